package runner

import (
	"fmt"
	"strings"

	"github.com/teleport-go/teleport/bench/pb"
)

// Runner is one RPC stack under test.
//
// A server answers every request with the request itself after
// pb.SetReply: it must decode the message, set field1 and field2 and encode
// it again, so that every stack does the same codec work.
type Runner interface {
	// Name is the stable, lower-case name used by -only and -kind.
	Name() string
	// StartServer listens on addr (host:port, port 0 picks one) and serves
	// in the background. It returns the address actually bound and a stop
	// function that closes the listener and every accepted connection and
	// returns once the server's goroutines have ended.
	StartServer(addr string) (realAddr string, stop func() error, err error)
	// NewClient connects to a server started by the same runner.
	NewClient(cfg ClientConfig) (Client, error)
}

// ClientConfig says how a client connects.
type ClientConfig struct {
	// Addr is the server address.
	Addr string
	// Pool is the number of connections shared round-robin by the calling
	// goroutines: goroutine i uses connection i % Pool. Zero means 1.
	// A runner whose model is one connection per goroutine ignores it.
	Pool int
	// Concurrency is the number of goroutines that will call, with indices
	// 0..Concurrency-1. Zero means 1. Runners may size per-goroutine state
	// by it; a runner that keeps one connection per goroutine dials this
	// many connections.
	Concurrency int
}

func (c ClientConfig) pool() int {
	if c.Pool <= 0 {
		return 1
	}
	return c.Pool
}

func (c ClientConfig) concurrency() int {
	if c.Concurrency <= 0 {
		return 1
	}
	return c.Concurrency
}

// Client makes calls to one server. Call is safe for concurrent use by
// goroutines with distinct indices.
type Client interface {
	// Call sends req and decodes the reply into reply, which the caller
	// owns and reuses across calls. i is the caller's goroutine index in
	// [0, Concurrency); it selects the connection. Call must not keep req
	// or reply after it returns.
	Call(i int, req, reply *pb.BenchmarkMessage) error
	// Close closes every connection; calls in flight fail.
	Close() error
}

// all lists the runners in the order compare runs them: the ceilings
// first, then the minimal RPC, the framework under test, then the
// baselines.
var all = []Runner{
	RawTCPMux{},
	RawTCPConn{},
	MinRPC{},
	Teleport{},
	NetRPC{},
	GRPC{},
}

// All returns every registered runner in run order.
func All() []Runner {
	return append([]Runner(nil), all...)
}

// Names returns the names of every registered runner in run order.
func Names() []string {
	names := make([]string, len(all))
	for i, r := range all {
		names[i] = r.Name()
	}
	return names
}

// Lookup returns the runner called name.
func Lookup(name string) (Runner, error) {
	for _, r := range all {
		if r.Name() == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("runner: no runner %q (registered: %s)", name, strings.Join(Names(), ", "))
}

// Select returns the runners named in the comma-separated list, in run
// order; an empty list selects all of them. An unknown name is an error.
func Select(list string) ([]Runner, error) {
	if strings.TrimSpace(list) == "" {
		return All(), nil
	}
	want := make(map[string]bool)
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if _, err := Lookup(name); err != nil {
			return nil, err
		}
		want[name] = true
	}
	var out []Runner
	for _, r := range all {
		if want[r.Name()] {
			out = append(out, r)
		}
	}
	return out, nil
}

var (
	_ Runner = RawTCPMux{}
	_ Runner = RawTCPConn{}
	_ Runner = MinRPC{}
	_ Runner = Teleport{}
	_ Runner = NetRPC{}
	_ Runner = GRPC{}
	_ Client = (*muxClient)(nil)
	_ Client = (*connClient)(nil)
	_ Client = (*minClient)(nil)
	_ Client = (*netrpcClient)(nil)
	_ Client = (*grpcClient)(nil)
)
