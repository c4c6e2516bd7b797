// Package load drives a runner.Client the way the common Go RPC benchmark
// does: c goroutines, each warming up and then, after a common start
// barrier, making its share of sequential calls while recording every
// call's latency.
package load

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/stats"
	"github.com/teleport-go/teleport/bench/pb"
)

// Warmup is the number of untimed calls each goroutine makes before the
// start barrier; with Concurrency >= Pool every connection gets at least
// this many, so connection set-up and first-use costs stay out of the
// numbers.
const Warmup = 5

// Config describes one load run.
type Config struct {
	// Concurrency is the number of calling goroutines; zero means 1. It
	// must match the runner.ClientConfig the client was made with.
	Concurrency int
	// Total is the number of timed calls in all, split evenly over the
	// goroutines. Ignored when Duration is set.
	Total int64
	// Duration, when positive, runs every goroutine until it elapses
	// instead of for a fixed number of calls.
	Duration time.Duration
	// BeforeStart, if set, runs after the warm-up, right before the
	// goroutines are released; compare samples server counters there.
	BeforeStart func()
	// Progress, if set, gets a progress line while the run lasts (only
	// drawn when it is a terminal).
	Progress io.Writer
	// Request, if set, is the request every goroutine sends, shared and
	// only read (the sweep's sized messages); nil gives each goroutine its
	// own pb.NewRequest.
	Request *pb.BenchmarkMessage
	// Stop, if set, ends the run once closed: each goroutine finishes its
	// call in progress and makes no other. With it, a zero Total and
	// Duration run until it is closed (the fault harness's loads).
	Stop <-chan struct{}
	// OnCall, if set, is told of every timed call, in the calling
	// goroutine i, when it returns: its start and end, and its error. It
	// may block, to pace the goroutine (after failures that come back at
	// once, say).
	OnCall func(i int, start, end time.Time, err error)
}

// Result is the outcome of a run.
type Result struct {
	stats.Report
	// ClientMallocs is the number of heap allocations made in this process
	// during the timed run (runtime.MemStats.Mallocs delta): all of it is
	// the client's unless a server runs in the same process.
	ClientMallocs uint64
	// ClientGCs is the number of garbage collection cycles this process
	// ran during the timed run (runtime.MemStats.NumGC delta).
	ClientGCs uint32
	// Err is the first error a timed call returned, if any.
	Err error
	// Latencies holds every timed call's latency, one slice per calling
	// goroutine in call order, so that runs can be merged.
	Latencies [][]time.Duration
}

// worker is one calling goroutine's state; done is padded so that the
// goroutines' counters do not share a cache line.
type worker struct {
	lat  []time.Duration
	ok   int64
	err  error
	errs int64
	done atomic.Int64
	_    [64]byte
}

// Run warms cl up and then runs the timed load described by cfg.
func Run(cl runner.Client, cfg Config) Result {
	c := max(cfg.Concurrency, 1)
	workers := make([]worker, c)
	for i := range workers {
		// A timed run's slices start with room for about a million calls
		// in all, and grow if needed.
		n := min(max((1<<20)/c, 64), 4096)
		if cfg.Duration <= 0 {
			n = int(share(cfg.Total, c, i))
		}
		workers[i].lat = make([]time.Duration, 0, n)
	}

	var warm, finished sync.WaitGroup
	startCh := make(chan struct{})
	warm.Add(c)
	finished.Add(c)
	var deadline time.Time
	for i := range workers {
		go func(i int) {
			defer finished.Done()
			w := &workers[i]
			req := cfg.Request
			if req == nil {
				req = pb.NewRequest()
			}
			reply := new(pb.BenchmarkMessage)
			for range Warmup {
				reply.Reset()
				_ = cl.Call(i, req, reply)
			}
			warm.Done()
			<-startCh
			calls := share(cfg.Total, c, i)
			untilStopped := cfg.Stop != nil && cfg.Total <= 0
			for j := int64(0); cfg.Duration > 0 || untilStopped || j < calls; j++ {
				if cfg.Stop != nil && stopped(cfg.Stop) {
					break
				}
				// Reset so that a call that fails to fill the reply
				// cannot count the previous reply as OK.
				reply.Reset()
				t0 := time.Now()
				err := cl.Call(i, req, reply)
				t1 := time.Now()
				w.lat = append(w.lat, t1.Sub(t0))
				w.done.Add(1)
				switch {
				case err != nil:
					w.errs++
					if w.err == nil {
						w.err = err
					}
				case pb.IsOK(reply):
					w.ok++
				}
				if cfg.OnCall != nil {
					cfg.OnCall(i, t0, t1, err)
				}
				if cfg.Duration > 0 && !t1.Before(deadline) {
					break
				}
			}
		}(i)
	}

	warm.Wait()
	if cfg.BeforeStart != nil {
		cfg.BeforeStart()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs, gcs := ms.Mallocs, ms.NumGC
	start := time.Now()
	deadline = start.Add(cfg.Duration)
	var progress *stats.Progress
	if cfg.Progress != nil {
		total := cfg.Total
		if cfg.Duration > 0 {
			total = 0
		}
		progress = stats.StartProgress(cfg.Progress, total, func() int64 {
			var n int64
			for i := range workers {
				n += workers[i].done.Load()
			}
			return n
		})
	}
	close(startCh)
	finished.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms)
	if progress != nil {
		progress.Stop()
	}

	res := Result{ClientMallocs: ms.Mallocs - mallocs, ClientGCs: ms.NumGC - gcs}
	res.Elapsed = elapsed
	lat := make([][]time.Duration, c)
	for i := range workers {
		w := &workers[i]
		lat[i] = w.lat
		sent := int64(len(w.lat))
		res.Sent += sent
		res.Received += sent - w.errs
		res.OK += w.ok
		if res.Err == nil {
			res.Err = w.err
		}
	}
	res.Latency = stats.Summarize(lat)
	res.Latencies = lat
	return res
}

func stopped(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// share is goroutine i's part of total calls over c goroutines; the
// remainder goes to the first goroutines so that the parts add up to total.
func share(total int64, c, i int) int64 {
	n := total / int64(c)
	if int64(i) < total%int64(c) {
		n++
	}
	return n
}
