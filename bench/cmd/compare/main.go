// Command compare runs the benchmark workload against every registered RPC
// stack in one invocation and prints a markdown table of throughput,
// latency, CPU and allocations, with each stack's TPS as a ratio to the
// raw-TCP ceiling, to the minimal RPC and to the best of the other
// frameworks.
//
// The runs are interleaved: -rounds rounds each run every stack once (in
// an order rotated from round to round) with its share of the calls, and
// a stack's figures are those of all its rounds together, so that a slow
// spell of a shared machine falls on every stack alike.
//
// Each server runs in a child process (this binary re-executed with
// -serve), so the server CPU and allocation columns are the server's own.
//
// With -sweep it measures curves instead: TPS, p99 and CPU per call as the
// concurrency grows (-sweep-c), as the message grows (-sweep-size) and as
// the connections grow with one caller each (-sweep-conns),
// written as CSV and drawn as SVG and PNG charts into -sweep-out.
//
// Usage:
//
//	go run ./cmd/compare [-c 100] [-n 200000 | -d 10s] [-pool 10] [-rounds 3] [-only a,b] [-svg chart.svg]
//	go run ./cmd/compare -sweep [-d 3s] [-sweep-out sweep] [-only minrpc,teleport,netrpc]
//	go run ./cmd/compare -sweep-replot sweep/sweep.csv [-sweep-out sweep]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/serverproc"
)

func main() {
	var (
		concurrency = flag.Int("c", 100, "concurrent calling goroutines")
		total       = flag.Int64("n", 200000, "calls per runner, over all rounds")
		duration    = flag.Duration("d", 0, "time per runner over all rounds, instead of -n calls (with -sweep: per runner and point, default 3s)")
		pool        = flag.Int("pool", 10, "connections shared round-robin by the goroutines")
		rounds      = flag.Int("rounds", 3, "interleaved rounds: each runs every runner once with its share of -n or -d")
		only        = flag.String("only", "", "comma-separated runners to run (default all: "+strings.Join(runner.Names(), ",")+"; with -sweep: "+defaultSweepRunners+")")
		svg         = flag.String("svg", "", "also draw the results as an SVG chart into this file")
		sweep       = flag.Bool("sweep", false, "measure concurrency and message-size curves instead of one table")
		sweepC      = flag.String("sweep-c", "1,10,100,1000,5000", "with -sweep: the concurrencies of the concurrency curve (standard message; \"\": no such curve)")
		sweepSize   = flag.String("sweep-size", "64,1024,16384,262144,1048576", "with -sweep: the message sizes in bytes of the size curve (at -c; \"\": no such curve)")
		sweepConns  = flag.String("sweep-conns", "10,100,1000,10000", "with -sweep: the connection counts of the connections curve, one caller each (\"\": no such curve)")
		sweepOut    = flag.String("sweep-out", "sweep", "with -sweep: directory for sweep.csv and the charts")
		replot      = flag.String("sweep-replot", "", "draw the charts of this sweep.csv into -sweep-out, measuring nothing")
		serve       = flag.String("serve", "", "internal: run as the child server of this runner")
		addr        = flag.String("addr", "127.0.0.1:0", "internal: listen address of the child server")
	)
	flag.Parse()

	if *serve != "" {
		if err := serverproc.Serve(*serve, *addr, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "compare: child server:", err)
			os.Exit(1)
		}
		return
	}
	if *concurrency < 1 || *pool < 1 || *rounds < 1 || (*duration <= 0 && *total < 1) {
		fmt.Fprintln(os.Stderr, "compare: -c, -pool, -rounds and -n (or -d) must be positive")
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}

	if *replot != "" {
		recs, err := readSweepCSV(*replot)
		if err == nil {
			err = os.MkdirAll(*sweepOut, 0o755)
		}
		if err == nil {
			err = writeSweepCharts(*sweepOut, recs, os.Stderr)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	if *sweep {
		list := *only
		if list == "" {
			list = defaultSweepRunners
		}
		runners, err := runner.Select(list)
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(2)
		}
		d := *duration
		if d <= 0 {
			d = 3 * time.Second
		}
		sc := sweepConfig{exe: exe, runners: runners, duration: d, rounds: *rounds, pool: *pool, sizeC: *concurrency, out: *sweepOut}
		// An empty list leaves its curve out.
		for _, c := range []struct {
			list string
			dst  *[]int
		}{{*sweepC, &sc.cs}, {*sweepSize, &sc.sizes}, {*sweepConns, &sc.conns}} {
			if err == nil && strings.TrimSpace(c.list) != "" {
				*c.dst, err = parseInts(c.list)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(2)
		}
		if err := runSweep(sc, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "compare: sweep:", err)
			os.Exit(1)
		}
		return
	}

	runners, err := runner.Select(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	cfg := config{concurrency: *concurrency, total: *total, duration: *duration, pool: *pool, rounds: *rounds}
	rows, failed := interleave(exe, runners, cfg, os.Stderr)

	fmt.Printf("Workload: %d-byte protobuf BenchmarkMessage (vtproto code), %s in %d interleaved rounds; concurrency %d, %d connections, GOMAXPROCS %d, %d CPUs, %s/%s, %s.\n\n",
		requestSize(), cfg.amount(), cfg.rounds, cfg.concurrency, cfg.pool, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	writeTable(os.Stdout, rows)
	if *svg != "" {
		if err := writeSVG(*svg, rows, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "compare: svg:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
