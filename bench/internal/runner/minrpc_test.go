package runner

import (
	"net"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/bench/pb"
)

// A request for a route the server does not have gets an error reply, and
// the connection keeps working.
func TestMinRPCUnknownRoute(t *testing.T) {
	addr, stop, err := MinRPC{}.StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mc := newMuxConn(c)
	defer mc.close()

	route := "/no/such"
	frame := append(append(append([]byte(nil), zeroHeader[:]...), byte(len(route))), route...)
	call := &muxCall{done: make(chan error, 1)}
	if err := mc.send(&frame, call); err != nil {
		t.Fatal(err)
	}
	if err := <-call.done; err != nil {
		t.Fatal(err)
	}
	if len(call.resp) == 0 || call.resp[0] != minStatusError || !strings.Contains(string(call.resp[1:]), "unknown route") {
		t.Fatalf("reply %q, want an error status and \"unknown route\"", call.resp)
	}

	cl := &minClient{mux: &muxClient{conns: []*muxConn{mc}}}
	reply := new(pb.BenchmarkMessage)
	if err := cl.Call(0, pb.NewRequest(), reply); err != nil || !pb.IsOK(reply) {
		t.Fatalf("call after the error: %v, OK %v", err, pb.IsOK(reply))
	}
}
