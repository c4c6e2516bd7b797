package runner_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/teleport-go/teleport/internal/leaktest"

	"github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/pb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// start starts r's server on loopback and a client to it, both stopped by
// the test's cleanup.
func start(tb testing.TB, r runner.Runner, pool, concurrency int) runner.Client {
	tb.Helper()
	addr, stop, err := r.StartServer("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("stop: %v", err)
		}
	})
	cl, err := r.NewClient(runner.ClientConfig{Addr: addr, Pool: pool, Concurrency: concurrency})
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after stop, so it runs first: clients close before their
	// server.
	tb.Cleanup(func() { cl.Close() })
	return cl
}

func TestRunnersEndToEnd(t *testing.T) {
	tests := []struct {
		name              string
		pool, concurrency int
		total             int64
	}{
		{"single", 1, 1, 50},
		{"shared", 2, 8, 400},
		{"pool-over-concurrency", 4, 2, 100},
	}
	for _, r := range runner.All() {
		for _, tt := range tests {
			t.Run(r.Name()+"/"+tt.name, func(t *testing.T) {
				cl := start(t, r, tt.pool, tt.concurrency)
				res := load.Run(cl, load.Config{Concurrency: tt.concurrency, Total: tt.total})
				if res.Err != nil {
					t.Fatalf("call failed: %v", res.Err)
				}
				if res.Sent != tt.total || res.Received != tt.total || res.OK != tt.total {
					t.Fatalf("sent/received/OK = %d/%d/%d, want %d each", res.Sent, res.Received, res.OK, tt.total)
				}
				if res.Latency.Count != int(tt.total) || res.Latency.Min <= 0 || res.Latency.Max < res.Latency.P50 {
					t.Fatalf("implausible latency summary %+v", res.Latency)
				}
			})
		}
	}
}

// TestReplyContent checks more than field1: the reply is the request with
// field2 changed, decoded into a reused reply.
func TestReplyContent(t *testing.T) {
	for _, r := range runner.All() {
		t.Run(r.Name(), func(t *testing.T) {
			cl := start(t, r, 1, 1)
			req := pb.NewRequest()
			reply := new(pb.BenchmarkMessage)
			for range 3 {
				reply.Reset()
				if err := cl.Call(0, req, reply); err != nil {
					t.Fatal(err)
				}
				if !pb.IsOK(reply) || reply.GetField2() != pb.ReplyField2 ||
					reply.GetField9() != pb.Sentence || reply.GetField131() != pb.IntValue {
					t.Fatalf("bad reply: field1=%q field2=%d field9=%q field131=%d",
						reply.GetField1(), reply.GetField2(), reply.GetField9(), reply.GetField131())
				}
			}
			if req.GetField1() != pb.Sentence {
				t.Fatal("the call modified the request")
			}
		})
	}
}

func TestCallAfterServerStop(t *testing.T) {
	for _, r := range runner.All() {
		t.Run(r.Name(), func(t *testing.T) {
			addr, stop, err := r.StartServer("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := r.NewClient(runner.ClientConfig{Addr: addr, Pool: 1, Concurrency: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			reply := new(pb.BenchmarkMessage)
			if err := cl.Call(0, pb.NewRequest(), reply); err != nil {
				t.Fatal(err)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if err := cl.Call(0, pb.NewRequest(), reply); err == nil {
				t.Fatal("call to a stopped server succeeded")
			}
		})
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{"", runner.Names(), false},
		{"grpc,rawtcp-mux", []string{"rawtcp-mux", "grpc"}, false},
		{" netrpc , ", []string{"netrpc"}, false},
		{"nope", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			rs, err := runner.Select(tt.list)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.Name())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// BenchmarkCall measures one call of each runner, with as many calling
// goroutines as RunParallel starts sharing a pool of 4 connections.
func BenchmarkCall(b *testing.B) {
	for _, r := range runner.All() {
		b.Run(r.Name(), func(b *testing.B) {
			const pool = 4
			// RunParallel starts GOMAXPROCS goroutines by default.
			concurrency := runtime.GOMAXPROCS(0)
			cl := start(b, r, pool, concurrency)
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(p *testing.PB) {
				i := int(next.Add(1)-1) % concurrency
				req := pb.NewRequest()
				reply := new(pb.BenchmarkMessage)
				for p.Next() {
					if err := cl.Call(i, req, reply); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
