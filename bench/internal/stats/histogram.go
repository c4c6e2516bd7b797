package stats

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts latencies in logarithmic buckets, for runs too long to
// keep every call's latency (the load and soak commands). Each power of two
// of nanoseconds is cut into histSub linear sub-buckets, so a percentile
// read from it is within 1/histSub (1.6 %) of the true value. Record is
// safe for concurrent use and allocates nothing; the zero value is ready.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	// Values below histSub ns have a bucket each; above, 64-histSubBits
	// powers of two with histSub buckets each.
	histBuckets = histSub + (64-histSubBits)*histSub
)

// histIndex is the bucket of v nanoseconds.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1)), e >= histSubBits
	sub := (v >> (e - histSubBits)) & (histSub - 1)
	return histSub + (e-histSubBits)*histSub + int(sub)
}

// histUpper is the largest value of bucket i, in nanoseconds.
func histUpper(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := (i-histSub)/histSub + histSubBits
	sub := uint64((i - histSub) % histSub)
	lo := uint64(1)<<e | sub<<(e-histSubBits)
	return lo + (uint64(1) << (e - histSubBits)) - 1
}

// Record counts one latency; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(uint64(v))].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of latencies recorded.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// upper bound of the bucket holding it, capped at the largest latency
// recorded. It is 0 when nothing was recorded.
func (h *Histogram) Percentile(p float64) time.Duration {
	var snap [histBuckets]uint64
	var n uint64
	for i := range h.counts {
		snap[i] = h.counts[i].Load()
		n += snap[i]
	}
	if n == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(n))
	if float64(rank) < p/100*float64(n)-1e-9 {
		rank++
	}
	rank = min(max(rank, 1), n)
	var seen uint64
	for i, c := range snap {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i)), time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Max returns the largest latency recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }
