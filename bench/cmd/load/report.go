package main

import (
	"fmt"
	"io"
	"time"

	"github.com/teleport-go/teleport/bench/internal/stats"
)

// soakVerdict is how the server's RSS moved after the warm-up.
type soakVerdict struct {
	start   uint64 // the first sample after the warm-up
	plateau uint64 // the most in the first half after the warm-up
	end     uint64 // the most in the last tenth of the run
	ok      bool   // end <= plateau * (1 + tolerance)
	samples int    // samples after the warm-up
}

// judgeSoak reads the samples taken after warmup. RSS grows while pools
// and buffers fill, then levels off; the plateau is where it stood in the
// first half of the time after the warm-up, and a leak shows as an end
// above it. With fewer than two samples after the warm-up there is nothing
// to judge, and the verdict fails.
func judgeSoak(samples []rssSample, warmup time.Duration, tolerance float64) soakVerdict {
	var after []rssSample
	for _, s := range samples {
		if s.at >= warmup {
			after = append(after, s)
		}
	}
	v := soakVerdict{samples: len(after)}
	if len(after) < 2 {
		return v
	}
	v.start = after[0].rss
	first, last := after[0].at, after[len(after)-1].at
	mid := first + (last-first)/2
	for _, s := range after {
		if s.at <= mid {
			v.plateau = max(v.plateau, s.rss)
		}
	}
	tail := max(len(after)/10, 1)
	for _, s := range after[len(after)-tail:] {
		v.end = max(v.end, s.rss)
	}
	v.ok = float64(v.end) <= float64(v.plateau)*(1+tolerance)
	return v
}

// write prints the report and returns whether the run passed: no error,
// no wrong reply, no stuck call, and with cfg.soak an RSS that levelled
// off.
func (r result) write(w io.Writer, cfg config) bool {
	pass := r.errs == 0 && r.bad == 0 && r.stuck == 0 && r.calls > 0
	fmt.Fprintf(w, "load: %s, %d sessions × %d concurrent pulls (%d in flight), %d-byte request, %v (warm-up %v)\n",
		cfg.kind, cfg.sessions, cfg.pulls, r.inFlight, r.reqSize, cfg.duration, cfg.warmup)
	fmt.Fprintf(w, "calls:         %d returned, %d errors, %d wrong replies, %d stuck\n", r.calls, r.errs, r.bad, r.stuck)
	if r.firstErr != nil {
		fmt.Fprintf(w, "first error:   %v\n", r.firstErr)
	}
	if r.measured > 0 && r.measTime > 0 {
		h := r.hist
		fmt.Fprintf(w, "TPS:           %.0f (after the warm-up)\n", float64(r.measured)/r.measTime.Seconds())
		fmt.Fprintf(w, "latency:       p50 %v, p99 %v, p99.9 %v, max %v\n",
			stats.Round(h.Percentile(50)), stats.Round(h.Percentile(99)), stats.Round(h.Percentile(99.9)), stats.Round(h.Max()))
		fmt.Fprintf(w, "server CPU:    %.1f µs/call\n", micros(r.serverCPU)/float64(r.measured))
	}
	var peak uint64
	for _, s := range r.samples {
		peak = max(peak, s.rss)
	}
	end := uint64(0)
	if n := len(r.samples); n > 0 {
		end = r.samples[n-1].rss
	}
	fmt.Fprintf(w, "server RSS:    %.1f MiB with the sessions idle, peak %.1f MiB, end %.1f MiB (%.1f KiB per session at the end)\n",
		mib(r.idleRSS), mib(peak), mib(end), float64(end)/1024/float64(cfg.sessions))
	if cfg.soak {
		v := judgeSoak(r.samples, cfg.warmup, cfg.tolerance)
		verdict := "PASS"
		if !v.ok {
			verdict = "FAIL"
			pass = false
		}
		fmt.Fprintf(w, "soak RSS:      start %.1f MiB, plateau %.1f MiB, end %.1f MiB over %d samples: %s (end within %.0f%% of the plateau)\n",
			mib(v.start), mib(v.plateau), mib(v.end), v.samples, verdict, cfg.tolerance*100)
	}
	if pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
	return pass
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
