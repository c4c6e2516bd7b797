package tp

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/faultnet"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/socket"
	"go.uber.org/goleak"
)

// matrixTransport makes a connected pair of connections: the client's end
// and the server's.
type matrixTransport struct {
	name string
	pair func(t *testing.T) (cli, srv net.Conn)
}

func matrixTransports(t *testing.T) []matrixTransport {
	tc := newTestCert(t)
	return []matrixTransport{
		{"pipe", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
		{"tcp", func(t *testing.T) (net.Conn, net.Conn) { return streamPair(t, "tcp", "127.0.0.1:0") }},
		{"tls", func(t *testing.T) (net.Conn, net.Conn) {
			c, s := streamPair(t, "tcp", "127.0.0.1:0")
			// The handshake happens on the first read or write of each end.
			return tls.Client(c, tc.client), tls.Server(s, tc.server)
		}},
		{"unix", func(t *testing.T) (net.Conn, net.Conn) {
			return streamPair(t, "unix", filepath.Join(t.TempDir(), "m.sock"))
		}},
	}
}

// streamPair dials a listener of its own and returns both ends, with small
// kernel buffers: frames are split across more reads and writes, and a
// peer that stops reading blocks its writer sooner.
func streamPair(t *testing.T, network, addr string) (net.Conn, net.Conn) {
	t.Helper()
	lis, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept() // nil when the dial failed and lis closed
		accepted <- c
	}()
	c, err := net.DialTimeout(network, lis.Addr().String(), 5*time.Second)
	if err != nil {
		lis.Close()
		<-accepted
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	for _, conn := range []net.Conn{c, s} {
		if b, ok := conn.(interface {
			SetReadBuffer(int) error
			SetWriteBuffer(int) error
		}); ok {
			_ = b.SetReadBuffer(32 << 10)
			_ = b.SetWriteBuffer(32 << 10)
		}
	}
	return c, s
}

// matrixFaults wrap both ends of every connection of the matrix.
var matrixFaults = []struct {
	name   string
	faults *faultnet.Faults // nil: the connection as it is
}{
	{"plain", nil},
	{"short reads of 1", &faultnet.Faults{ReadChunk: 1}},
	{"short reads of 7", &faultnet.Faults{ReadChunk: 7}},
	{"writes of 3, reads of 5", &faultnet.Faults{WriteChunk: 3, ReadChunk: 5}},
}

// matrixCell is a server peer and a client peer joined by one connection,
// each end started with ServeConn.
type matrixCell struct {
	transport        string
	srv, cli         *Peer
	srvSess, cliSess Session
	srvConn, cliConn net.Conn // as given to ServeConn
	hold             *holdState
	srvSink, cliSink chan string
}

// newMatrixCell connects two peers over tr. Each end is wrapped in a
// faultnet.Conn when base is not nil or edit sets a fault.
func newMatrixCell(t *testing.T, tr matrixTransport, base *faultnet.Faults, cliCfg *PeerConfig, editCli, editSrv func(*faultnet.Faults)) *matrixCell {
	t.Helper()
	c := &matrixCell{transport: tr.name, hold: newHoldState(), srvSink: make(chan string, 16), cliSink: make(chan string, 16)}
	c.srv = NewPeer(nil, &holdPlugin{hold: c.hold, sink: c.srvSink})
	c.cli = NewPeer(cliCfg, &holdPlugin{sink: c.cliSink})
	for _, p := range []*Peer{c.srv, c.cli} {
		p.PullRouter.Reg(new(Home))
		p.PullRouter.Reg(new(Hold))
		p.PushRouter.Reg(new(Sink))
	}
	cliConn, srvConn := tr.pair(t)
	c.cliConn, c.srvConn = wrapFaults(cliConn, base, editCli), wrapFaults(srvConn, base, editSrv)
	t.Cleanup(func() {
		c.hold.release()
		closePeerWithin(t, c.cli, 5*time.Second)
		closePeerWithin(t, c.srv, 5*time.Second)
		c.cliConn.Close()
		c.srvConn.Close()
	})
	// Both at once: ServeConn completes a TLS handshake before it
	// returns, which takes both ends.
	srvDone := make(chan error, 1)
	go func() {
		var err error
		c.srvSess, err = c.srv.ServeConn(c.srvConn)
		srvDone <- err
	}()
	var err error
	if c.cliSess, err = c.cli.ServeConn(c.cliConn); err != nil {
		t.Fatal(err)
	}
	if err := <-srvDone; err != nil {
		t.Fatal(err)
	}
	return c
}

func wrapFaults(c net.Conn, base *faultnet.Faults, edit func(*faultnet.Faults)) net.Conn {
	if base == nil && edit == nil {
		return c
	}
	var f faultnet.Faults
	if base != nil {
		f = *base
	}
	if edit != nil {
		edit(&f)
	}
	return faultnet.Wrap(c, f)
}

// closePeerWithin closes p and reports whether Close returned within d;
// it fails the test when not, and leaves Close running (the leak check
// then names what it waits for).
func closePeerWithin(t testing.TB, p *Peer, d time.Duration) bool {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
		return true
	case <-time.After(d):
		t.Errorf("Peer.Close took more than %v", d)
		return false
	}
}

// pullWithin pulls on sess, bounded by d: a pull still waiting then ends
// with CodeHandleTimeout.
func pullWithin(sess Session, d time.Duration, uri string, args, reply interface{}, setting ...socket.PacketSetting) *Rerror {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return sess.Pull(uri, args, reply, append(setting, socket.WithContext(ctx))...).Rerror()
}

// awaitPull waits up to d for a pull sent with AsyncPull.
func awaitPull(t *testing.T, done <-chan *PullCmd, d time.Duration) *PullCmd {
	t.Helper()
	select {
	case cmd := <-done:
		return cmd
	case <-time.After(d):
		t.Fatalf("a pull did not end within %v", d)
		return nil
	}
}

func wantCode(t *testing.T, what string, rerr *Rerror, codes ...int32) {
	t.Helper()
	for _, c := range codes {
		if rerr != nil && rerr.Code == c {
			return
		}
	}
	t.Fatalf("%s: %v, want one of the codes %v", what, rerr, codes)
}

// matrixBehaviours are the core behaviours run over every transport and
// fault of the matrix; each gets a connection of its own.
var matrixBehaviours = []struct {
	name string
	// editCli and editSrv add faults to the client's and server's end.
	editCli, editSrv func(*faultnet.Faults)
	cliCfg           *PeerConfig
	run              func(t *testing.T, c *matrixCell)
}{
	{name: "pull round trip", run: func(t *testing.T, c *matrixCell) {
		var sum int
		if rerr := pullWithin(c.cliSess, 5*time.Second, "/home/test_add", [2]int{20, 22}, &sum); rerr != nil || sum != 42 {
			t.Fatalf("pull = %d, %v; want 42", sum, rerr)
		}
		long := strings.Repeat("teleport ", 600) // several buffers' worth
		var echo string
		if rerr := pullWithin(c.cliSess, 5*time.Second, "/home/echo", long, &echo); rerr != nil || echo != long {
			t.Fatalf("echo of %d bytes = %d bytes, %v", len(long), len(echo), rerr)
		}
		var b []byte
		if rerr := pullWithin(c.cliSess, 5*time.Second, "/home/bytes", []byte("raw\x00bytes"), &b); rerr != nil || string(b) != "raw\x00bytes" {
			t.Fatalf("bytes = %q, %v", b, rerr)
		}
		var none int
		wantCode(t, "pull of an unknown route", pullWithin(c.cliSess, 5*time.Second, "/no/such", 1, &none), CodeNotFound)
	}},
	{name: "push both ways", run: func(t *testing.T, c *matrixCell) {
		for _, dir := range []struct {
			sess Session
			sink chan string
		}{{c.cliSess, c.srvSink}, {c.srvSess, c.cliSink}} {
			if rerr := dir.sess.Push("/sink/put", "hello"); rerr != nil {
				t.Fatalf("push: %v", rerr)
			}
			select {
			case got := <-dir.sink:
				if got != "hello" {
					t.Fatalf("pushed %q", got)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("push not delivered")
			}
		}
	}},
	{name: "server-initiated pull", run: func(t *testing.T, c *matrixCell) {
		var sum int
		if rerr := pullWithin(c.srvSess, 5*time.Second, "/home/test_add", [2]int{1, 2}, &sum); rerr != nil || sum != 3 {
			t.Fatalf("pull from the server = %d, %v", sum, rerr)
		}
	}},
	{name: "concurrent pulls", run: func(t *testing.T, c *matrixCell) {
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					arg := strings.Repeat(string(rune('a'+g)), 1+g*97+i*31)
					var got string
					if rerr := pullWithin(c.cliSess, 10*time.Second, "/home/echo", arg, &got); rerr != nil || got != arg {
						t.Errorf("pull %d.%d: %v (%d bytes for %d)", g, i, rerr, len(got), len(arg))
						return
					}
				}
			}()
		}
		wg.Wait()
	}},
	{name: "close ends waiting pulls", run: func(t *testing.T, c *matrixCell) {
		done := make(chan *PullCmd, 2)
		c.cliSess.AsyncPull("/hold/wait", 1, new(int), done)
		c.cliSess.AsyncPull("/hold/wait", 2, new(int), done)
		for range 2 {
			recvWithin(t, c.hold.entered, 5*time.Second, "a handler to start")
		}
		c.cliSess.Close()
		for range 2 {
			wantCode(t, "a pull waiting when its session closed", awaitPull(t, done, 2*time.Second).Rerror(), CodeConnClosed)
		}
		// The server reads an end of stream, which may be a half-close:
		// as net/rpc does, it closes once its handlers have replied.
		c.hold.release()
		waitFor(t, "the server to see the close", func() bool { return c.srv.CountSession() == 0 })
	}},
	{name: "remote close ends waiting pulls", run: func(t *testing.T, c *matrixCell) {
		done := make(chan *PullCmd, 1)
		c.cliSess.AsyncPull("/hold/wait", 1, new(int), done)
		recvWithin(t, c.hold.entered, 5*time.Second, "the handler to start")
		c.srvSess.Close()
		wantCode(t, "a pull waiting when the remote end closed", awaitPull(t, done, 2*time.Second).Rerror(), CodeConnClosed)
		waitFor(t, "the client to see the close", func() bool { return !c.cliSess.IsOk() && c.cli.CountSession() == 0 })
	}},
	{
		name:    "cut mid-pull",
		editCli: func(f *faultnet.Faults) { f.Write = faultnet.Fault{Kind: faultnet.Cut, At: 20} },
		run: func(t *testing.T, c *matrixCell) {
			var echo string
			rerr := pullWithin(c.cliSess, 5*time.Second, "/home/echo", "cut inside this frame", &echo)
			wantCode(t, "a pull cut mid-frame", rerr, CodeWriteFailed, CodeConnClosed)
			waitFor(t, "both ends to close", func() bool { return c.srv.CountSession() == 0 && c.cli.CountSession() == 0 })
		},
	},
	{
		name:    "cut mid-reply",
		editSrv: func(f *faultnet.Faults) { f.Write = faultnet.Fault{Kind: faultnet.Cut, At: 20} },
		run: func(t *testing.T, c *matrixCell) {
			var echo string
			rerr := pullWithin(c.cliSess, 5*time.Second, "/home/echo", "a reply cut short", &echo)
			wantCode(t, "a pull whose reply was cut", rerr, CodeConnClosed)
			waitFor(t, "both ends to close", func() bool { return c.srv.CountSession() == 0 && c.cli.CountSession() == 0 })
		},
	},
	{
		name:    "read error mid-frame",
		editSrv: func(f *faultnet.Faults) { f.Read = faultnet.Fault{Kind: faultnet.Fail, At: 20} },
		run: func(t *testing.T, c *matrixCell) {
			var echo string
			rerr := pullWithin(c.cliSess, 5*time.Second, "/home/echo", "the server cannot read this", &echo)
			// Over a pipe the client may still be writing the frame.
			wantCode(t, "a pull the server failed to read", rerr, CodeConnClosed, CodeWriteFailed)
			waitFor(t, "both ends to close", func() bool { return c.srv.CountSession() == 0 && c.cli.CountSession() == 0 })
		},
	},
	{
		// A server that stops reading: the client's write timeout fails
		// the push and closes the session.
		name:    "write timeout on a stalled reader",
		editSrv: func(*faultnet.Faults) {}, // wrapped, to stall its reads
		cliCfg:  &PeerConfig{DefaultWriteTimeout: 300 * time.Millisecond},
		run: func(t *testing.T, c *matrixCell) {
			// Over TLS, closing must not wait the 5 s crypto/tls gives
			// close_notify on a connection whose peer stopped reading.
			var sum int
			if rerr := pullWithin(c.cliSess, 5*time.Second, "/home/test_add", [2]int{1, 1}, &sum); rerr != nil {
				t.Fatalf("pull before the stall: %v", rerr) // and TLS has shaken hands
			}
			srvConn := c.srvConn.(*faultnet.Conn)
			srvConn.StallReads()
			start := time.Now()
			rerr := c.cliSess.Push("/sink/put", make([]byte, 1<<20)) // more than the kernel buffers
			wantCode(t, "a push to a peer that stopped reading", rerr, CodeWriteFailed)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("the push failed after %v, want about the 300ms write timeout", d)
			}
			waitFor(t, "the client to close", func() bool { return !c.cliSess.IsOk() })
			srvConn.Release()
			waitFor(t, "the server to see the close", func() bool { return c.srv.CountSession() == 0 })
		},
	},
}

func recvWithin[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

// TestMatrix runs the core behaviours over a pipe, TCP, TLS and a unix
// socket, each as it is and with short reads and writes in small pieces;
// every cell ends with no goroutine left behind.
func TestMatrix(t *testing.T) {
	for _, tr := range matrixTransports(t) {
		for _, mf := range matrixFaults {
			for _, b := range matrixBehaviours {
				t.Run(tr.name+"/"+mf.name+"/"+b.name, func(t *testing.T) {
					// Cleanups run last first: this one after the cell's.
					t.Cleanup(func() { goleak.VerifyNone(t, leaktest.Options()...) })
					c := newMatrixCell(t, tr, mf.faults, b.cliCfg, b.editCli, b.editSrv)
					b.run(t, c)
				})
			}
		}
	}
}
