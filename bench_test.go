package tp

import (
	"bytes"
	"github.com/teleport-go/teleport/internal/israce"
	"sync"
	"testing"
)

// payload581 has the size of the marshalled message of the common Go RPC
// benchmark; as []byte it travels through the string codec, whose own
// allocations are known (see TestPullAllocations).
var payload581 = bytes.Repeat([]byte("t"), 581)

// BenchmarkPull is a pull round trip over loopback, one caller at a time.
func BenchmarkPull(b *testing.B) {
	atDefaultLogLevel(b)
	p := newPair(b, nil, nil, regHome)
	var reply []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(payload581)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rerr := p.cliSess.Pull("/home/bytes", payload581, &reply).Rerror(); rerr != nil {
			b.Fatal(rerr)
		}
	}
}

// BenchmarkPullParallel has many callers share one session, the case the
// coalescing write path and the pending table are built for.
func BenchmarkPullParallel(b *testing.B) {
	atDefaultLogLevel(b)
	p := newPair(b, nil, nil, regHome)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload581)))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var reply []byte
		for pb.Next() {
			if rerr := p.cliSess.Pull("/home/bytes", payload581, &reply).Rerror(); rerr != nil {
				b.Error(rerr)
				return
			}
		}
	})
}

// BenchmarkPush sends pushes, each counted by the handler, and waits for
// the last one.
func BenchmarkPush(b *testing.B) {
	atDefaultLogLevel(b)
	p := newPair(b, nil, nil, regHome)
	b.ReportAllocs()
	start := counting.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rerr := p.cliSess.Push("/note/count", i); rerr != nil {
			b.Fatal(rerr)
		}
	}
	waitFor(b, "every push to be handled", func() bool { return counting.Load()-start == int64(b.N) })
}

// TestPullAllocations counts the allocations of one pull, client and
// server together. The body's are what the string codec and the handler's
// types make: the server's argument (reflect.New), its copy of the body,
// the result boxed into an interface when it is not a pointer, and the
// client's copy of the reply. Beyond them the framework makes the PullCmd,
// and for a handler called through reflection (a result that is neither a
// pointer nor an interface{}) the slice reflect's Call returns.
func TestPullAllocations(t *testing.T) {
	if israce.Enabled {
		t.Skip("under the race detector sync.Pool drops items at random, each drop an allocation; CI runs this test without it")
	}
	atDefaultLogLevel(t)
	p := newPair(t, nil, nil, regHome)
	tests := []struct {
		uri       string
		body      float64 // the body's allocations
		framework float64 // the most the framework may add
	}{
		{"/home/bytes", 4, 2},     // []byte result: reflection, and boxed
		{"/home/bytes_ptr", 3, 1}, // *[]byte result: called directly
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			var reply []byte
			pull := func() {
				if rerr := p.cliSess.Pull(tt.uri, payload581, &reply).Rerror(); rerr != nil {
					t.Fatal(rerr)
				}
			}
			for range 100 {
				pull()
			}
			// The server may still be finishing the previous reply when
			// the next pull starts; a lock makes each measured pull
			// end-to-end complete.
			var mu sync.Mutex
			allocs := testing.AllocsPerRun(1000, func() {
				mu.Lock()
				pull()
				waitFor(t, "the handler to finish", func() bool { return p.srv.handling.Load() == 0 })
				mu.Unlock()
			})
			framework := allocs - tt.body
			t.Logf("%.2f allocations per pull, %.2f of them the framework's", allocs, framework)
			if framework > tt.framework {
				t.Fatalf("the framework makes %.2f allocations per pull, want at most %v", framework, tt.framework)
			}
			if !bytes.Equal(reply, payload581) {
				t.Fatal("reply differs from the request")
			}
		})
	}
}
