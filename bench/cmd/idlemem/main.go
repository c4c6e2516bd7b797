// Command idlemem measures the resident memory teleport spends per idle
// session, on the server side and on the client side.
//
// Both sides run in child processes of their own (this binary re-executed
// with -child server or -child client), so that each has its own
// RLIMIT_NOFILE (one descriptor per session) and its own RSS. Both use
// tp.NewPeer with MaxSessions -1 (the measurement holds more than
// DefaultMaxSessions) and string bodies; the server has one pull
// controller that echoes its body. The parent
//
//  1. samples both children bare, after a forced GC;
//  2. has the client dial -n sessions, -batch at a time, with one pull of
//     a small body on each, so every session is set up on both ends;
//     after -settle idle, samples both again;
//  3. has the client make one pull of a -big body (64 KiB) on every
//     session; after -settle idle, samples both again: what a session
//     keeps of a large message once it is idle;
//  4. stops the client, then the server.
//
// The report gives, for each side and each stage, the RSS growth per
// session over the bare sample, its heap and stack parts and the
// goroutines per session, and PASS/FAIL lines against -budget.
//
// The figure is a measurement, not a test: the exit status is 0 whether it
// passes or fails, and non-zero only if the measurement itself went wrong.
//
// Usage:
//
//	go run ./cmd/idlemem [-n 19000] [-batch 500] [-big 65536] [-settle 2s] [-budget 4] [-heap PREFIX]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// childFlag, as the first argument, makes the binary a child; the second
// argument is its role, "server" or "client".
const childFlag = "-child"

func main() {
	if len(os.Args) > 2 && os.Args[1] == childFlag {
		os.Exit(runChild(os.Args[2], os.Stdin, os.Stdout))
	}
	cfg := config{}
	flag.IntVar(&cfg.sessions, "n", 19000, "idle sessions to open")
	flag.IntVar(&cfg.batch, "batch", 500, "sessions dialed, or pulled on, concurrently")
	flag.IntVar(&cfg.bigSize, "big", 64<<10, "body size in bytes of the second pull on every session; 0: none")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "idle time before each sample")
	flag.Float64Var(&cfg.budgetKiB, "budget", 4, "RSS budget per idle session and side, KiB")
	flag.StringVar(&cfg.heapProfile, "heap", "", "also have the children write pprof heap profiles to PREFIX.server and PREFIX.client after the last sample")
	flag.Parse()
	if cfg.sessions < 1 || cfg.batch < 1 || cfg.bigSize < 0 || cfg.settle < 0 || cfg.budgetKiB <= 0 {
		fmt.Fprintln(os.Stderr, "idlemem: -n, -batch and -budget must be positive, -big and -settle not negative")
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "idlemem:", err)
		os.Exit(1)
	}
	cfg.exe = exe
	cfg.log = os.Stderr

	res, err := measure(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idlemem:", err)
		os.Exit(1)
	}
	res.write(os.Stdout, cfg.budgetKiB)
}
