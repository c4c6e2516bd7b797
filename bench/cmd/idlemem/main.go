// Command idlemem measures the resident memory a teleport server spends per
// idle session.
//
// The server runs in a child process (this binary re-executed with
// -child): a tp.Peer with one trivial pull controller, served on a
// loopback port. The parent samples the child's RSS after a forced GC,
// dials -n sessions to it with a client tp.Peer (-batch at a time,
// concurrently), makes one small pull on each so that every session is set
// up on both ends, lets them sit idle for -settle, forces a GC in the child
// and samples its RSS again. The report gives the RSS growth per session
// and a PASS/FAIL line against the -budget.
//
// The figure is a measurement, not a test: the exit status is 0 whether it
// passes or fails, and non-zero only if the measurement itself went wrong.
//
// Usage:
//
//	go run ./cmd/idlemem [-n 10000] [-batch 500] [-settle 1s] [-budget 48] [-heap FILE]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// childFlag, as the first argument, makes the binary the child server.
const childFlag = "-child"

func main() {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		os.Exit(runChild(os.Stdin, os.Stdout))
	}
	cfg := config{}
	flag.IntVar(&cfg.sessions, "n", 10000, "idle sessions to open")
	flag.IntVar(&cfg.batch, "batch", 500, "sessions dialed concurrently")
	flag.DurationVar(&cfg.settle, "settle", time.Second, "idle time before the second sample")
	flag.Float64Var(&cfg.budgetKiB, "budget", 48, "RSS budget per session, KiB")
	flag.StringVar(&cfg.heapProfile, "heap", "", "also have the child write a heap profile (pprof) to this file after the second sample")
	flag.Parse()
	if cfg.sessions < 1 || cfg.batch < 1 || cfg.settle < 0 || cfg.budgetKiB <= 0 {
		fmt.Fprintln(os.Stderr, "idlemem: -n, -batch and -budget must be positive, -settle not negative")
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
