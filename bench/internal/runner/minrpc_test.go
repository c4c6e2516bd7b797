package runner

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
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
	mc := newMinClientConn(c)
	cl := &minClient{conns: []*minClientConn{mc}}
	defer cl.Close()

	route := "/no/such"
	frame := append(append(append([]byte(nil), zeroHeader[:]...), byte(len(route))), route...)
	putHeader(frame, len(frame)-frameHeaderLen, 1000)
	call := &muxCall{done: make(chan error, 1)}
	if err := mc.replies.add(1000, call); err != nil {
		t.Fatal(err)
	}
	if err := mc.out.write(frame); err != nil {
		t.Fatal(err)
	}
	if err := <-call.done; err != nil {
		t.Fatal(err)
	}
	if len(call.resp) == 0 || call.resp[0] != minStatusError || !strings.Contains(string(call.resp[1:]), "unknown route") {
		t.Fatalf("reply %q, want an error status and \"unknown route\"", call.resp)
	}

	reply := new(pb.BenchmarkMessage)
	if err := cl.Call(0, pb.NewRequest(), reply); err != nil || !pb.IsOK(reply) {
		t.Fatalf("call after the error: %v, OK %v", err, pb.IsOK(reply))
	}
}

// Concurrent writers through one coalescer each get their frame out
// whole, in some order, and a broken writer's error reaches later ones.
func TestCoalescer(t *testing.T) {
	var got lockedWriter
	c := &coalescer{w: &got}
	const writers, frames = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range frames {
				if err := c.write([]byte(fmt.Sprintf("<%d:%d>", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	out := got.String()
	for w := range writers {
		for i := range frames {
			if !strings.Contains(out, fmt.Sprintf("<%d:%d>", w, i)) {
				t.Fatalf("frame <%d:%d> missing", w, i)
			}
		}
	}
	if got.writes >= writers*frames {
		t.Logf("no coalescing happened: %d writes for %d frames", got.writes, writers*frames)
	}

	broken := &coalescer{w: failWriter{}}
	if err := broken.write([]byte("x")); err == nil {
		t.Fatal("no error from a failing writer")
	}
	if err := broken.write([]byte("y")); err == nil {
		t.Fatal("the connection's error was not sticky")
	}
}

type lockedWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	writes int
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
