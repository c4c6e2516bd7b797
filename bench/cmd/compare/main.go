// Command compare runs the benchmark workload against every registered RPC
// stack, one after the other in one invocation, and prints a markdown table
// of throughput, latency, CPU and allocations, with each stack's TPS as a
// ratio to the raw-TCP ceiling and to net/rpc.
//
// Each server runs in a child process (this binary re-executed with
// -serve), so the server CPU and allocation columns are the server's own.
//
// Usage:
//
//	go run ./cmd/compare [-c 100] [-n 200000 | -d 10s] [-pool 10] [-only a,b] [-svg chart.svg]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/serverproc"
)

func main() {
	var (
		concurrency = flag.Int("c", 100, "concurrent calling goroutines")
		total       = flag.Int64("n", 200000, "total calls per runner")
		duration    = flag.Duration("d", 0, "run each runner for this long instead of -n calls")
		pool        = flag.Int("pool", 10, "connections shared round-robin by the goroutines")
		only        = flag.String("only", "", "comma-separated runners to run (default all: "+strings.Join(runner.Names(), ",")+")")
		svg         = flag.String("svg", "", "also draw the results as an SVG chart into this file")
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
	if *concurrency < 1 || *pool < 1 || (*duration <= 0 && *total < 1) {
		fmt.Fprintln(os.Stderr, "compare: -c, -pool and -n (or -d) must be positive")
		os.Exit(2)
	}
	runners, err := runner.Select(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}

	cfg := config{concurrency: *concurrency, total: *total, duration: *duration, pool: *pool}
	var rows []row
	failed := false
	for _, r := range runners {
		fmt.Fprintf(os.Stderr, "%-12s ", r.Name())
		row, err := measure(exe, r, cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "failed: %v\n", err)
			failed = true
			continue
		}
		fmt.Fprintf(os.Stderr, "%.0f TPS, %d/%d OK\n", row.res.TPS(), row.res.OK, row.res.Sent)
		if row.res.OK != row.res.Sent {
			failed = true
		}
		rows = append(rows, row)
	}

	fmt.Printf("Workload: %d-byte protobuf BenchmarkMessage, %s; concurrency %d, %d connections, GOMAXPROCS %d, %s/%s, %s.\n\n",
		requestSize(), cfg.amount(), cfg.concurrency, cfg.pool, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
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

// config is the load every runner gets.
type config struct {
	concurrency int
	total       int64
	duration    time.Duration
	pool        int
}

func (c config) amount() string {
	if c.duration > 0 {
		return fmt.Sprintf("%v per runner", c.duration)
	}
	return fmt.Sprintf("%d calls per runner", c.total)
}

// row is one runner's measurements.
type row struct {
	name      string
	res       load.Result
	serverCPU time.Duration // child process CPU during the timed run
	serverMal uint64        // child process mallocs during the timed run
	clientCPU time.Duration // this process's CPU during the timed run
}

// measure starts r's server in a child process, runs the load against it
// and samples the child's counters around the timed part.
func measure(exe string, r runner.Runner, cfg config) (row, error) {
	cmd := exec.Command(exe, "-serve", r.Name(), "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	proc, err := serverproc.Start(cmd)
	if err != nil {
		return row{}, err
	}
	defer proc.Stop()

	cl, err := r.NewClient(runner.ClientConfig{Addr: proc.Addr(), Pool: cfg.pool, Concurrency: cfg.concurrency})
	if err != nil {
		return row{}, err
	}
	var before serverproc.Usage
	var beforeErr error
	var clientBefore time.Duration
	res := load.Run(cl, load.Config{
		Concurrency: cfg.concurrency,
		Total:       cfg.total,
		Duration:    cfg.duration,
		BeforeStart: func() {
			before, beforeErr = proc.Usage()
			clientBefore = serverproc.CPUTime()
		},
	})
	clientCPU := serverproc.CPUTime() - clientBefore
	after, afterErr := proc.Usage()
	cl.Close()
	if err := proc.Stop(); err != nil {
		return row{}, fmt.Errorf("child server: %w", err)
	}
	if beforeErr != nil || afterErr != nil {
		return row{}, fmt.Errorf("sampling the child server: %v %v", beforeErr, afterErr)
	}
	if res.Received == 0 {
		return row{}, fmt.Errorf("no call succeeded: %v", res.Err)
	}
	return row{
		name:      r.Name(),
		res:       res,
		serverCPU: after.CPU - before.CPU,
		serverMal: after.Mallocs - before.Mallocs,
		clientCPU: clientCPU,
	}, nil
}
