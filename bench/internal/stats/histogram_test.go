package stats

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistIndexBounds(t *testing.T) {
	// Every value lies within its bucket, and buckets tile the line.
	prevUpper := int64(-1)
	for i := 0; i < histBuckets-histSub; i++ {
		up := histUpper(i)
		if int64(up) <= prevUpper {
			t.Fatalf("bucket %d upper %d not above the previous %d", i, up, prevUpper)
		}
		lo := uint64(prevUpper + 1)
		if histIndex(lo) != i || histIndex(up) != i {
			t.Fatalf("bucket %d [%d, %d]: indexes %d and %d", i, lo, up, histIndex(lo), histIndex(up))
		}
		if lo >= histSub && float64(up-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its start", i, lo, up, histSub)
		}
		prevUpper = int64(up)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	var h Histogram
	if h.Percentile(99) != 0 || h.Count() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		vals := make([]time.Duration, 5000)
		for i := range vals {
			vals[i] = time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		}
		all = append(all, vals...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range vals {
				h.Record(v)
			}
		}()
	}
	wg.Wait()
	slices.Sort(all)
	if h.Count() != uint64(len(all)) {
		t.Fatalf("count %d, want %d", h.Count(), len(all))
	}
	for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
		want := Percentile(all, p)
		got := h.Percentile(p)
		if got < want || float64(got-want) > float64(want)/histSub+1 {
			t.Errorf("p%v = %v, exact %v: off by more than one bucket", p, got, want)
		}
	}
	if h.Max() != all[len(all)-1] || h.Percentile(100) != h.Max() {
		t.Errorf("max %v / p100 %v, want %v", h.Max(), h.Percentile(100), all[len(all)-1])
	}
	h.Record(-time.Second)
	if h.Percentile(0.001) != 0 {
		t.Error("a negative latency is not counted as zero")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1234 * time.Microsecond
		for pb.Next() {
			h.Record(d)
		}
	})
}
