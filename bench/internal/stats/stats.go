// Package stats turns the latencies recorded by the load goroutines into
// the summary the benchmark commands print, and draws the progress line.
//
// Recording is kept off the measured path's allocation budget: every
// goroutine appends to its own preallocated []time.Duration, and merging
// and sorting happen once, after the run.
package stats

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Summary describes a latency distribution.
type Summary struct {
	Count                          int
	Mean, P50, P99, P999, Max, Min time.Duration
}

// Summarize merges the per-goroutine latency slices and computes the
// summary. It does not modify its input.
func Summarize(perGoroutine [][]time.Duration) Summary {
	n := 0
	for _, l := range perGoroutine {
		n += len(l)
	}
	if n == 0 {
		return Summary{}
	}
	all := make([]time.Duration, 0, n)
	for _, l := range perGoroutine {
		all = append(all, l...)
	}
	slices.Sort(all)
	var sum float64
	for _, d := range all {
		sum += float64(d)
	}
	return Summary{
		Count: n,
		Mean:  time.Duration(sum / float64(n)),
		P50:   Percentile(all, 50),
		P99:   Percentile(all, 99),
		P999:  Percentile(all, 99.9),
		Max:   all[n-1],
		Min:   all[0],
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value that at least p percent of the values do not
// exceed.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001)
	// from pushing an exact rank one place up.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Report is what a load run produced, in the form both the client command
// and compare print.
type Report struct {
	Elapsed  time.Duration
	Sent     int64 // calls started
	Received int64 // calls that returned without an error
	OK       int64 // received calls whose reply was correct
	Latency  Summary
}

// TPS is the throughput: calls received per second of the timed run.
func (r Report) TPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Received) / r.Elapsed.Seconds()
}

// Write prints the report in the layout of the common Go RPC benchmark's
// client.
func (r Report) Write(w io.Writer) error {
	l := r.Latency
	_, err := fmt.Fprintf(w,
		"took %v for %d requests\n"+
			"sent     requests    : %d\n"+
			"received requests    : %d\n"+
			"received requests_OK : %d\n"+
			"throughput  (TPS)    : %.0f\n"+
			"mean: %v, median: %v, p99: %v, p99.9: %v, max: %v, min: %v\n",
		r.Elapsed.Round(time.Millisecond), r.Sent,
		r.Sent, r.Received, r.OK, r.TPS(),
		Round(l.Mean), Round(l.P50), Round(l.P99), Round(l.P999), Round(l.Max), Round(l.Min))
	return err
}

// Round shortens d for display to three or four significant digits.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}
