// Command load holds many sessions to a teleport server, each with many
// pulls in flight, for a bounded time, and checks that every call
// succeeded. It reports TPS, latency percentiles, the server's CPU per call
// and its resident memory, sampled as the run goes.
//
// With -soak it runs longer (10 minutes unless -d says otherwise) and also
// judges the server's memory: after the warm-up, RSS must level off, and at
// the end it must not stand above that plateau by more than -tolerance.
//
// The server runs in a child process (this binary re-executed with
// -serve), so its RSS is its own; the parent reads it from /proc (Linux).
//
// Usage:
//
//	go run ./cmd/load [-sessions 1000] [-pulls 50] [-d 30s] [-size 0]
//	go run ./cmd/load -soak [-d 10m] [-tolerance 0.05]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/serverproc"
)

func main() {
	var (
		cfg   config
		serve = flag.String("serve", "", "internal: run as the child server of this runner")
		addr  = flag.String("addr", "127.0.0.1:0", "internal: listen address of the child server")
	)
	flag.IntVar(&cfg.sessions, "sessions", 1000, "sessions (connections) to the server")
	flag.IntVar(&cfg.pulls, "pulls", 50, "concurrent pulls on each session")
	flag.DurationVar(&cfg.duration, "d", 0, "how long the load lasts (default 30s, with -soak 10m)")
	flag.DurationVar(&cfg.warmup, "warmup", 0, "time at the start left out of the latency figures and the soak verdict (default a tenth of -d, at most 1m)")
	flag.DurationVar(&cfg.every, "every", time.Second, "interval between RSS samples and progress lines")
	flag.BoolVar(&cfg.soak, "soak", false, "soak: also fail if the server's RSS ends above where it levelled off")
	flag.Float64Var(&cfg.tolerance, "tolerance", 0.05, "with -soak: how far above the plateau the end may stand, as a fraction")
	flag.IntVar(&cfg.size, "size", 0, "request size in bytes (0: the standard 581-byte message)")
	flag.StringVar(&cfg.kind, "kind", "teleport", "runner: "+strings.Join(runner.Names(), ", "))
	flag.Parse()

	if *serve != "" {
		if err := serverproc.Serve(*serve, *addr, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "load: child server:", err)
			os.Exit(1)
		}
		return
	}
	if cfg.duration <= 0 {
		cfg.duration = 30 * time.Second
		if cfg.soak {
			cfg.duration = 10 * time.Minute
		}
	}
	if cfg.warmup <= 0 {
		cfg.warmup = min(cfg.duration/10, time.Minute)
	}
	if cfg.sessions < 1 || cfg.pulls < 1 || cfg.every <= 0 || cfg.tolerance < 0 || cfg.warmup >= cfg.duration {
		fmt.Fprintln(os.Stderr, "load: -sessions, -pulls and -every must be positive, -tolerance not negative, -warmup shorter than -d")
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	cfg.exe = exe
	cfg.log = os.Stderr

	res, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if !res.write(os.Stdout, cfg) {
		os.Exit(1)
	}
}
