package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/serverproc"
	"github.com/teleport-go/teleport/bench/internal/stats"
	"github.com/teleport-go/teleport/bench/pb"
)

// config is the load every runner gets.
type config struct {
	concurrency int
	total       int64         // calls per runner over all rounds
	duration    time.Duration // time per runner over all rounds; replaces total
	pool        int
	rounds      int                  // zero means 1
	request     *pb.BenchmarkMessage // shared request; nil: the standard one
}

func (c config) amount() string {
	if c.duration > 0 {
		return fmt.Sprintf("%v per runner", c.duration)
	}
	return fmt.Sprintf("%d calls per runner", c.total)
}

// round is the load of round k of cfg's rounds: its share of the time, or
// of the calls (the remainder going to the first rounds, so that the
// rounds add up to total).
func (c config) round(k int) config {
	r := max(c.rounds, 1)
	c.rounds = 1
	if c.duration > 0 {
		c.duration /= time.Duration(r)
	} else {
		n := c.total / int64(r)
		if int64(k) < c.total%int64(r) {
			n++
		}
		c.total = max(n, 1)
	}
	return c
}

// row is one runner's measurements, summed over its rounds.
type row struct {
	name      string
	res       load.Result
	serverCPU time.Duration // child process CPU during the timed runs
	serverMal uint64        // child process mallocs during the timed runs
	serverGCs uint32        // child process GC cycles during the timed runs
	clientCPU time.Duration // this process's CPU during the timed runs
}

// merge adds the run o to r; the latency summary is recomputed from both
// runs' latencies.
func (r *row) merge(o row) {
	if r.name == "" {
		*r = o
		return
	}
	r.res.Elapsed += o.res.Elapsed
	r.res.Sent += o.res.Sent
	r.res.Received += o.res.Received
	r.res.OK += o.res.OK
	r.res.ClientMallocs += o.res.ClientMallocs
	if r.res.Err == nil {
		r.res.Err = o.res.Err
	}
	r.res.Latencies = append(r.res.Latencies, o.res.Latencies...)
	r.res.Latency = stats.Summarize(r.res.Latencies)
	r.serverCPU += o.serverCPU
	r.serverMal += o.serverMal
	r.serverGCs += o.serverGCs
	r.res.ClientGCs += o.res.ClientGCs
	r.clientCPU += o.clientCPU
}

// interleave runs cfg.rounds rounds; round k runs every runner once,
// starting from runner k (mod their number). It returns one merged row per
// runner that succeeded, in the runners' order, and whether any run failed
// or had a call that was not OK. Progress goes to log.
func interleave(exe string, runners []runner.Runner, cfg config, log io.Writer) ([]row, bool) {
	rounds := max(cfg.rounds, 1)
	merged := make([]row, len(runners))
	bad := make([]bool, len(runners))
	failed := false
	for k := range rounds {
		for j := range runners {
			i := (j + k) % len(runners)
			r := runners[i]
			if bad[i] {
				continue
			}
			// One line per run, written whole: the child servers write
			// to the same stderr.
			got, err := measure(exe, r, cfg.round(k))
			if err != nil {
				fmt.Fprintf(log, "round %d/%d %-12s failed: %v\n", k+1, rounds, r.Name(), err)
				bad[i], failed = true, true
				continue
			}
			fmt.Fprintf(log, "round %d/%d %-12s %.0f TPS, %d/%d OK\n", k+1, rounds, r.Name(), got.res.TPS(), got.res.OK, got.res.Sent)
			if got.res.OK != got.res.Sent {
				failed = true
			}
			merged[i].merge(got)
		}
	}
	var rows []row
	for i := range runners {
		if !bad[i] && merged[i].name != "" {
			rows = append(rows, merged[i])
		}
	}
	return rows, failed
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
		Request:     cfg.request,
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
		serverGCs: after.GCs - before.GCs,
		clientCPU: clientCPU,
	}, nil
}
