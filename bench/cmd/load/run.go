package main

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/serverproc"
	"github.com/teleport-go/teleport/bench/internal/stats"
	"github.com/teleport-go/teleport/bench/pb"
)

// config is one load or soak run.
type config struct {
	exe       string // binary to re-execute with -serve as the child server
	kind      string // runner
	sessions  int
	pulls     int // concurrent pulls per session
	size      int // request size; 0: the standard message
	duration  time.Duration
	warmup    time.Duration
	every     time.Duration // RSS sampling interval
	soak      bool
	tolerance float64
	log       io.Writer // progress lines
}

// drainTimeout bounds the wait for calls still in flight when the time is
// up; a call that has not returned by then counts as stuck.
const drainTimeout = 30 * time.Second

// rssSample is the child server's memory at one moment of the run.
type rssSample struct {
	at    time.Duration // since the load started
	rss   uint64
	calls uint64 // calls finished by then
}

// result is what a run found.
type result struct {
	inFlight  int
	reqSize   int
	elapsed   time.Duration // from the start of the load to the last call's end
	calls     uint64        // calls that returned
	errs      uint64        // calls that returned an error
	bad       uint64        // calls that returned no error but a wrong reply
	stuck     int           // calls still in flight drainTimeout after the end
	firstErr  error
	measured  uint64           // calls after the warm-up: the latency figures and TPS
	measTime  time.Duration    // time they span
	hist      *stats.Histogram // latencies of the calls after the warm-up
	idleRSS   uint64           // server RSS with the sessions open, before the load
	samples   []rssSample
	serverCPU time.Duration // child CPU over the calls after the warm-up
}

// worker counts one calling goroutine's calls; padded against false
// sharing.
type worker struct {
	calls, errs, bad atomic.Uint64
	busy             atomic.Bool // a call is in flight
	err              atomic.Pointer[error]
	_                [40]byte
}

// run starts the child server, opens the sessions, runs the load while
// sampling the server's RSS, and stops everything.
func run(cfg config) (res result, err error) {
	res.inFlight = cfg.sessions * cfg.pulls
	req, err := pb.NewRequestSize(cfg.size)
	if err != nil {
		return res, err
	}
	res.reqSize = req.SizeVT()
	r, err := runner.Lookup(cfg.kind)
	if err != nil {
		return res, err
	}
	cmd := exec.Command(cfg.exe, "-serve", r.Name(), "-addr", "127.0.0.1:0")
	cmd.Stderr = cfg.log
	proc, err := serverproc.Start(cmd)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, proc.Stop()) }()

	start := time.Now()
	cl, err := r.NewClient(runner.ClientConfig{Addr: proc.Addr(), Pool: cfg.sessions, Concurrency: res.inFlight})
	if err != nil {
		return res, fmt.Errorf("opening %d sessions: %w", cfg.sessions, err)
	}
	closed := false
	defer func() {
		if !closed {
			cl.Close()
		}
	}()
	fmt.Fprintf(cfg.log, "load: %d sessions open in %v\n", cfg.sessions, time.Since(start).Round(time.Millisecond))
	if res.idleRSS, err = serverproc.RSS(proc.Pid()); err != nil {
		return res, err
	}

	workers := make([]worker, res.inFlight)
	res.hist = new(stats.Histogram)
	var (
		stop     atomic.Bool
		measure  atomic.Bool // past the warm-up: record latencies
		finished sync.WaitGroup
		measured atomic.Uint64
	)
	// The callers wait at a barrier until all of them exist: started one
	// by one, the first would load the machine while the rest were still
	// being started.
	startCh := make(chan struct{})
	for i := range workers {
		finished.Add(1)
		go func() {
			defer finished.Done()
			w := &workers[i]
			reply := new(pb.BenchmarkMessage)
			<-startCh
			for !stop.Load() {
				reply.Reset()
				w.busy.Store(true)
				t0 := time.Now()
				err := cl.Call(i, req, reply)
				d := time.Since(t0)
				w.busy.Store(false)
				w.calls.Add(1)
				switch {
				case err != nil:
					w.errs.Add(1)
					w.err.CompareAndSwap(nil, &err)
				case !pb.IsOK(reply):
					w.bad.Add(1)
				}
				if measure.Load() {
					res.hist.Record(d)
					measured.Add(1)
				}
			}
		}()
	}
	start = time.Now()
	ticker := time.NewTicker(cfg.every)
	warmupCh := time.After(cfg.warmup)
	endCh := time.After(cfg.duration)
	close(startCh)
	calls := func() uint64 {
		var n uint64
		for i := range workers {
			n += workers[i].calls.Load()
		}
		return n
	}

	// Sample until the time is up; at the end of the warm-up, start the
	// latency figures and the server CPU count.
	var cpuBefore serverproc.Usage
	var measStart time.Time
	var prev rssSample
	for done := false; !done; {
		select {
		case <-warmupCh:
			if cpuBefore, err = proc.Usage(); err != nil {
				stop.Store(true)
				return res, err
			}
			measStart = time.Now()
			measure.Store(true)
			continue
		case <-ticker.C:
		case <-endCh:
			done = true
		}
		s := rssSample{at: time.Since(start), calls: calls()}
		if s.rss, err = serverproc.RSS(proc.Pid()); err != nil {
			stop.Store(true)
			return res, err
		}
		if s.at-prev.at < cfg.every/10 && len(res.samples) > 0 {
			res.samples[len(res.samples)-1] = s // the end fell on a tick
			continue
		}
		res.samples = append(res.samples, s)
		tps := float64(s.calls-prev.calls) / (s.at - prev.at).Seconds()
		fmt.Fprintf(cfg.log, "load: %6.1fs %10d calls %8.0f TPS  server RSS %7.1f MiB\n", s.at.Seconds(), s.calls, tps, mib(s.rss))
		prev = s
	}
	ticker.Stop()
	measure.Store(false)
	res.measTime = time.Since(measStart)
	res.measured = measured.Load()
	cpuAfter, cpuErr := proc.Usage()
	res.serverCPU = cpuAfter.CPU - cpuBefore.CPU
	stop.Store(true)

	drained := make(chan struct{})
	go func() { finished.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		fmt.Fprintf(cfg.log, "load: calls still in flight %v after the end; closing the sessions\n", drainTimeout)
	}
	res.elapsed = time.Since(start)
	res.calls = calls()
	for i := range workers {
		w := &workers[i]
		res.errs += w.errs.Load()
		res.bad += w.bad.Load()
		if e := w.err.Load(); e != nil && res.firstErr == nil {
			res.firstErr = *e
		}
	}
	select {
	case <-drained:
	default:
		// Count the callers still blocked, then free them by closing.
		for i := range workers {
			if workers[i].busy.Load() {
				res.stuck++
			}
		}
		cl.Close()
		closed = true
		<-drained
	}
	return res, cpuErr
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
