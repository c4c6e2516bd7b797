package load

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleport-go/teleport/bench/pb"
)

// fakeClient answers in memory: every failEvery-th call fails and every
// badEvery-th reply is not OK.
type fakeClient struct {
	calls     atomic.Int64
	failEvery int64
	badEvery  int64
	maxIndex  atomic.Int64
}

func (f *fakeClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	for {
		m := f.maxIndex.Load()
		if int64(i) <= m || f.maxIndex.CompareAndSwap(m, int64(i)) {
			break
		}
	}
	n := f.calls.Add(1)
	if f.failEvery > 0 && n%f.failEvery == 0 {
		return errors.New("fake failure")
	}
	if f.badEvery > 0 && n%f.badEvery == 0 {
		return nil
	}
	pb.SetReply(reply)
	return nil
}

func (f *fakeClient) Close() error { return nil }

func TestRunCounts(t *testing.T) {
	tests := []struct {
		name                 string
		concurrency          int
		total                int64
		failEvery, badEvery  int64
		wantReceived, wantOK int64
	}{
		{"all-ok", 4, 103, 0, 0, 103, 103},
		{"fewer-calls-than-goroutines", 8, 3, 0, 0, 3, 3},
		{"zero-concurrency-means-one", 0, 10, 0, 0, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeClient{failEvery: tt.failEvery, badEvery: tt.badEvery}
			started := false
			res := Run(f, Config{Concurrency: tt.concurrency, Total: tt.total, BeforeStart: func() { started = true }})
			if !started {
				t.Error("BeforeStart not called")
			}
			if res.Sent != tt.total || res.Received != tt.wantReceived || res.OK != tt.wantOK {
				t.Fatalf("sent/received/OK = %d/%d/%d, want %d/%d/%d",
					res.Sent, res.Received, res.OK, tt.total, tt.wantReceived, tt.wantOK)
			}
			warmups := int64(max(tt.concurrency, 1) * Warmup)
			if got := f.calls.Load(); got != tt.total+warmups {
				t.Fatalf("client saw %d calls, want %d timed + %d warm-up", got, tt.total, warmups)
			}
			if got := f.maxIndex.Load(); got >= int64(max(tt.concurrency, 1)) {
				t.Fatalf("goroutine index %d out of range", got)
			}
		})
	}
}

func TestRunFailuresAndBadReplies(t *testing.T) {
	// With one goroutine the numbering is deterministic: warm-up takes
	// calls 1-5, the timed calls are 6-105.
	f := &fakeClient{failEvery: 10, badEvery: 7}
	res := Run(f, Config{Concurrency: 1, Total: 100})
	var fails, bad int64
	for n := int64(Warmup + 1); n <= Warmup+100; n++ {
		switch {
		case n%10 == 0:
			fails++
		case n%7 == 0:
			bad++
		}
	}
	if res.Received != 100-fails || res.OK != 100-fails-bad {
		t.Fatalf("received/OK = %d/%d, want %d/%d", res.Received, res.OK, 100-fails, 100-fails-bad)
	}
	if res.Err == nil {
		t.Fatal("first error not reported")
	}
}

func TestRunDuration(t *testing.T) {
	f := &fakeClient{}
	const d = 50 * time.Millisecond
	res := Run(f, Config{Concurrency: 2, Duration: d})
	if res.Sent == 0 || res.OK != res.Sent {
		t.Fatalf("sent/OK = %d/%d", res.Sent, res.OK)
	}
	if res.Elapsed < d {
		t.Fatalf("run took %v, shorter than %v", res.Elapsed, d)
	}
}

func TestShare(t *testing.T) {
	for _, total := range []int64{0, 1, 99, 100, 101} {
		var sum int64
		for i := range 7 {
			sum += share(total, 7, i)
		}
		if sum != total {
			t.Errorf("shares of %d add up to %d", total, sum)
		}
	}
}

// TestRunUntilStopped: with Stop and no Total nor Duration the goroutines
// call until it is closed, and OnCall sees every timed call in its own
// goroutine, with its error.
func TestRunUntilStopped(t *testing.T) {
	const c = 3
	f := &fakeClient{failEvery: 4}
	stop := make(chan struct{})
	var seen [c]int64
	var failed atomic.Int64
	var calls atomic.Int64
	res := Run(f, Config{Concurrency: c, Stop: stop, OnCall: func(i int, start, end time.Time, err error) {
		seen[i]++ // goroutine i only: no race
		if end.Before(start) {
			t.Errorf("call ended at %v before its start %v", end, start)
		}
		if err != nil {
			failed.Add(1)
		}
		if calls.Add(1) == 1000 {
			close(stop)
		}
	}})
	var total int64
	for _, n := range seen {
		total += n
	}
	if res.Sent < 1000 || total != res.Sent {
		t.Fatalf("sent %d, OnCall saw %d, want the same and at least 1000", res.Sent, total)
	}
	if res.Sent-res.Received != failed.Load() {
		t.Fatalf("%d calls failed, OnCall saw %d errors", res.Sent-res.Received, failed.Load())
	}
	if res.Sent > 1000+c {
		t.Fatalf("%d calls after a stop at the 1000th: more than one per goroutine", res.Sent-1000)
	}
}
