package tp

import (
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/socket"
	"go.uber.org/goleak"
)

// TestMain runs every test with every log line formatted (TRACE) into a
// discarding handler: the logging paths run under -race without noise.
func TestMain(m *testing.M) {
	if record := os.Getenv(shutdownChildEnv); record != "" {
		shutdownChild(record)
		return
	}
	SetLogger(NewSlogLogger(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.Level(-100)})))
	SetLoggerLevel("TRACE")
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// atDefaultLogLevel makes a benchmark measure what users get by default.
func atDefaultLogLevel(b testing.TB) {
	old := LoggerLevel()
	SetLoggerLevel(DefaultLoggerLevel)
	b.Cleanup(func() { SetLoggerLevel(old) })
}

// acceptWatch is a plugin that hands every accepted session to the test.
type acceptWatch struct{ ch chan PreSession }

func (a *acceptWatch) Name() string { return "accept-watch" }
func (a *acceptWatch) PostAccept(s PreSession) *Rerror {
	a.ch <- s
	return nil
}

// pair is a server peer and a client peer connected by one session.
type pair struct {
	srv, cli         *Peer
	cliSess, srvSess Session
	addr             string
}

// newPair starts srv on a loopback port and dials it from cli. setup, if
// given, registers routes before the connection is made. Both peers are
// closed when the test ends, each Close given 10 seconds: one that hangs
// fails the test rather than the whole test binary.
func newPair(t testing.TB, srvCfg, cliCfg *PeerConfig, setup func(srv, cli *Peer)) *pair {
	t.Helper()
	watch := &acceptWatch{ch: make(chan PreSession, 16)}
	srv := NewPeer(srvCfg, watch)
	cli := NewPeer(cliCfg)
	if setup != nil {
		setup(srv, cli)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		if !closePeerWithin(t, cli, 10*time.Second) || !closePeerWithin(t, srv, 10*time.Second) {
			return
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatalf("Dial: %v", rerr)
	}
	var srvSess Session
	select {
	case s := <-watch.ch:
		srvSess = s.(Session)
	case <-time.After(5 * time.Second):
		t.Fatal("server did not accept")
	}
	// The PostAccept hook runs before the session enters the server's
	// table: wait for the end of its handshake, so that tests may look it
	// up at once.
	waitFor(t, "the server's session in its table", func() bool { return srv.handshakes.Load() == 0 })
	return &pair{srv: srv, cli: cli, cliSess: sess, srvSess: srvSess, addr: lis.Addr().String()}
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// listenForChild is listenLoopback for a child process, which has no T.
func listenForChild() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// listenLoopback returns a listener on an OS-chosen loopback port.
// dialRaw dials a raw loopback listener from a new client peer: the test
// plays the other side (teleport v3.0, say) on the accepted connection,
// wrapped as a socket. Both are closed when the test ends.
func dialRaw(t testing.TB) (Session, socket.Socket) {
	t.Helper()
	lis := listenLoopback(t)
	t.Cleanup(func() { lis.Close() })
	cli := NewPeer(nil)
	t.Cleanup(func() { cli.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := lis.Accept(); err == nil {
			accepted <- c
		}
	}()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	conn := <-accepted
	t.Cleanup(func() { conn.Close() })
	return sess, socket.NewSocket(conn)
}

func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}
