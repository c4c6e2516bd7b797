package heartbeat_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/tptest"
	"github.com/teleport-go/teleport/plugin/auth"
	"github.com/teleport-go/teleport/plugin/heartbeat"
	"go.uber.org/goleak"
)

// TestMain formats every log line (TRACE) into a discarding handler, so the
// logging paths run under -race without noise, and checks for leaks.
func TestMain(m *testing.M) {
	tptest.DiscardLogs()
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

const interval = 50 * time.Millisecond

// Echo is a pull controller.
type Echo struct{ tp.PullCtx }

// Say answers its argument.
func (e *Echo) Say(s *string) (string, *tp.Rerror) { return *s, nil }

// watch counts the pings its peer receives and reports every session
// opened and closed. Add it before the heartbeat, which ends the stage of
// a ping.
type watch struct {
	pings  atomic.Int64
	opened chan tp.PreSession
	closed chan string
}

func newWatch() *watch {
	return &watch{opened: make(chan tp.PreSession, 16), closed: make(chan string, 16)}
}

func (w *watch) Name() string { return "watch" }

func (w *watch) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	if ctx.Uri() == heartbeat.PingUri {
		w.pings.Add(1)
	}
	return nil
}

func (w *watch) PostAccept(sess tp.PreSession) *tp.Rerror {
	w.opened <- sess
	return nil
}

func (w *watch) PostDial(sess tp.PreSession) *tp.Rerror {
	w.opened <- sess
	return nil
}

func (w *watch) PostDisconnect(sess tp.PostSession) *tp.Rerror {
	w.closed <- sess.Id()
	return nil
}

// waitClosed waits up to d for w to see a session close.
func (w *watch) waitClosed(t *testing.T, who string, d time.Duration) {
	t.Helper()
	select {
	case <-w.closed:
	case <-time.After(d):
		t.Fatalf("%s: the session was not closed within %v", who, d)
	}
}

// newPeer returns a peer with a watch, then the heartbeat if hb, closed
// when the test ends.
func newPeer(t *testing.T, hb bool) (*tp.Peer, *watch) {
	w := newWatch()
	plugins := []tp.Plugin{w}
	if hb {
		plugins = append(plugins, heartbeat.New(interval))
	}
	p := tp.NewPeer(nil, plugins...)
	p.PullRouter.Reg(new(Echo))
	t.Cleanup(func() { p.Close() })
	return p, w
}

// checkSilence checks that a session whose peer went silent d ago was
// closed after 3 to 4 intervals, with some slack for slow (-race) runs.
func checkSilence(t *testing.T, d time.Duration) {
	t.Helper()
	t.Logf("closed %v after the peer went silent", d)
	if d < (heartbeat.MaxSilentIntervals-1)*interval || d > 3*(heartbeat.MaxSilentIntervals+1)*interval {
		t.Fatalf("closed %v after the peer went silent, want %v to %v", d,
			heartbeat.MaxSilentIntervals*interval, (heartbeat.MaxSilentIntervals+1)*interval)
	}
}

func dial(t *testing.T, cli *tp.Peer, addr string) tp.Session {
	t.Helper()
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatalf("Dial: %v", rerr)
	}
	return sess
}

func pullEcho(t *testing.T, sess tp.Session) {
	t.Helper()
	var got string
	if rerr := sess.Pull("/echo/say", "hi", &got).Rerror(); rerr != nil || got != "hi" {
		t.Fatalf("pull: %q, %v", got, rerr)
	}
}

// TestIdleSessionStaysOpen: whichever side has the plugin, an idle session
// between healthy peers stays open, and the pings flow.
func TestIdleSessionStaysOpen(t *testing.T) {
	tests := []struct {
		name         string
		srvHB, cliHB bool
	}{
		{name: "both", srvHB: true, cliHB: true},
		{name: "client only", cliHB: true},
		{name: "server only", srvHB: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, srvW := newPeer(t, tt.srvHB)
			cli, cliW := newPeer(t, tt.cliHB)
			sess := dial(t, cli, tptest.Serve(t, srv))
			select {
			case id := <-srvW.closed:
				t.Fatalf("server closed session %s", id)
			case id := <-cliW.closed:
				t.Fatalf("client closed session %s", id)
			case <-time.After(6 * interval):
			}
			pullEcho(t, sess)
			// About 6 pings in 6 intervals; be lenient under -race.
			for _, c := range []struct {
				side  string
				w     *watch
				pings bool // the other side pings
			}{{"server", srvW, tt.cliHB}, {"client", cliW, tt.srvHB}} {
				n := c.w.pings.Load()
				if c.pings && n < 3 {
					t.Errorf("%s got %d pings in 6 intervals, want 3 or more", c.side, n)
				}
				if !c.pings && n != 0 {
					t.Errorf("%s got %d pings from a peer without the plugin", c.side, n)
				}
			}
		})
	}
}

// freezeConn is a connection that can be frozen: while it is, it delivers
// nothing read and writes nothing, like a hung peer.
type freezeConn struct {
	net.Conn
	closedCh  chan struct{}
	closeOnce sync.Once

	// mu guards the field below.
	mu     sync.Mutex
	thawCh chan struct{} // closed by thaw; nil while not frozen
}

func newFreezeConn(c net.Conn) *freezeConn {
	return &freezeConn{Conn: c, closedCh: make(chan struct{})}
}

func (c *freezeConn) freeze() {
	c.mu.Lock()
	c.thawCh = make(chan struct{})
	c.mu.Unlock()
}

func (c *freezeConn) thaw() {
	c.mu.Lock()
	close(c.thawCh)
	c.thawCh = nil
	c.mu.Unlock()
}

// wait waits while c is frozen; false means c was closed meanwhile.
func (c *freezeConn) wait() bool {
	c.mu.Lock()
	ch := c.thawCh
	c.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-c.closedCh:
		return false
	}
}

func (c *freezeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.wait() {
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *freezeConn) Write(p []byte) (int, error) {
	if !c.wait() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *freezeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closedCh) })
	return c.Conn.Close()
}

// TestHungPeerClosed: once a peer stops reading and writing, the side with
// the plugin closes the session within 3 to 4 intervals, and the other side
// finds it closed too.
func TestHungPeerClosed(t *testing.T) {
	tests := []struct {
		name  string
		srvHB bool // the hung server has the plugin too
	}{
		{name: "hung peer without the plugin"},
		{name: "hung peer with the plugin", srvHB: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, srvW := newPeer(t, tt.srvHB)
			cli, cliW := newPeer(t, true)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			conns := make(chan *freezeConn, 1)
			go func() {
				defer close(conns)
				c, err := lis.Accept()
				if err != nil {
					return
				}
				fc := newFreezeConn(c)
				if _, err := srv.ServeConn(fc); err != nil {
					t.Errorf("ServeConn: %v", err)
				}
				conns <- fc
			}()
			sess := dial(t, cli, lis.Addr().String())
			fc := <-conns
			if fc == nil {
				t.Fatal("no connection accepted")
			}
			// Healthy for a while: pings are answered.
			select {
			case id := <-cliW.closed:
				t.Fatalf("client closed healthy session %s", id)
			case <-time.After(3 * interval):
			}
			pullEcho(t, sess)

			fc.freeze()
			start := time.Now()
			cliW.waitClosed(t, "client", 20*interval)
			checkSilence(t, time.Since(start))
			if sess.IsOk() {
				t.Fatal("the client's session is still ok")
			}
			// The hung server: with the plugin it closes the session
			// itself, as it reads nothing either; without it, the
			// session ends once its connection works again and
			// finds the client gone.
			if !tt.srvHB {
				fc.thaw()
			}
			srvW.waitClosed(t, "server", 20*interval)
		})
	}
}

// TestSilentRawPeerClosed: a connection that never sends anything is closed
// by the side with the plugin within 3 to 4 intervals, whether it dialed or
// accepted it, and the raw side sees the connection end.
func TestSilentRawPeerClosed(t *testing.T) {
	tests := []struct {
		name string
		// connect returns the raw end, with the tp peer (w's) on the
		// other.
		connect func(t *testing.T, p *tp.Peer) net.Conn
	}{
		{name: "plugin on the dialing side", connect: func(t *testing.T, cli *tp.Peer) net.Conn {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := lis.Accept()
				accepted <- c
			}()
			dial(t, cli, lis.Addr().String())
			c := <-accepted
			if c == nil {
				t.Fatal("no connection accepted")
			}
			return c
		}},
		{name: "plugin on the accepting side", connect: func(t *testing.T, srv *tp.Peer) net.Conn {
			c, err := net.Dial("tcp", tptest.Serve(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, w := newPeer(t, true)
			raw := tt.connect(t, p)
			defer raw.Close()
			start := time.Now()
			// The raw side reads (the pings) until the connection ends.
			ended := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, raw)
				ended <- err
			}()
			w.waitClosed(t, "the peer with the plugin", 20*interval)
			checkSilence(t, time.Since(start))
			select {
			case err := <-ended:
				if err != nil {
					t.Fatalf("the raw side's connection ended with %v, want EOF", err)
				}
			case <-time.After(20 * interval):
				t.Fatal("the raw side's connection stayed open")
			}
			if n := p.CountSession(); n != 0 {
				t.Fatalf("the peer has %d sessions, want 0", n)
			}
		})
	}
}

// TestPingNotRouted: a peer with the plugin answers pings before routing,
// so its unknown-pull handler never sees them.
func TestPingNotRouted(t *testing.T) {
	var unknown atomic.Int64
	srv, _ := newPeer(t, true)
	srv.PullRouter.SetUnknown(func(ctx tp.UnknownPullCtx) (interface{}, *tp.Rerror) {
		unknown.Add(1)
		return nil, tp.NewRerror(tp.CodeNotFound, "Not Found", ctx.Uri())
	})
	cli, cliW := newPeer(t, true)
	sess := dial(t, cli, tptest.Serve(t, srv))
	// A ping by hand is answered by the plugin, not the handler.
	rerr := sess.Pull(heartbeat.PingUri, nil, nil).Rerror()
	if rerr == nil || rerr.Code != tp.CodeNotFound || !strings.Contains(rerr.Detail, "heartbeat") {
		t.Fatalf("ping: %v, want code %d from the plugin", rerr, tp.CodeNotFound)
	}
	select {
	case <-time.After(4 * interval):
	case id := <-cliW.closed:
		t.Fatalf("client closed session %s", id)
	}
	if n := unknown.Load(); n != 0 {
		t.Fatalf("the unknown-pull handler saw %d pulls, want 0", n)
	}
	// Other unknown pulls still reach it.
	if rerr := sess.Pull("/nowhere", nil, nil).Rerror(); rerr == nil || rerr.Detail != "/nowhere" {
		t.Fatalf("pull of /nowhere: %v, want the unknown handler's answer", rerr)
	}
}

// TestNoLeak: the plugin's goroutines end with the last session they watch,
// and start again with the next one.
func TestNoLeak(t *testing.T) {
	srv, srvW := newPeer(t, true)
	cli, cliW := newPeer(t, true)
	addr := tptest.Serve(t, srv)
	// The peers' own goroutines stay: those running now, and the pollers
	// their idle sessions wait in, started with the first session.
	opts := append(leaktest.Options(), goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/teleport-go/teleport/internal/netpoll.(*Poller).run"))

	for round := 0; round < 2; round++ {
		var sessions []tp.Session
		for i := 0; i < 3; i++ {
			sessions = append(sessions, dial(t, cli, addr))
		}
		// Pings flow (the goroutine started again in round 1).
		before := srvW.pings.Load()
		for deadline := time.Now().Add(5 * time.Second); srvW.pings.Load() < before+3; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no pings", round)
			}
		}
		for _, s := range sessions {
			s.Close()
		}
		for i := 0; i < 3; i++ {
			srvW.waitClosed(t, "server", 5*time.Second)
			cliW.waitClosed(t, "client", 5*time.Second)
		}
		// Nothing left of the plugin but the peers' own goroutines.
		if err := goleak.Find(opts...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestNewPanics: a non-positive interval is a programming mistake.
func TestNewPanics(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "not positive") {
					t.Errorf("New(%v): recovered %v, want a panic naming the interval", d, r)
				}
			}()
			heartbeat.New(d)
		}()
	}
}

// TestWithAuth: the heartbeat added after plugin/auth starts once the
// handshake is over, and keeps the authenticated sessions alive.
func TestWithAuth(t *testing.T) {
	check := func(token string, sess tp.PreSession) *tp.Rerror {
		if token != "t0k3n" {
			return auth.Unauthorized("unknown token")
		}
		return nil
	}
	srvW, cliW := newWatch(), newWatch()
	srv := tp.NewPeer(nil, auth.NewServer(check, nil), srvW, heartbeat.New(interval))
	srv.PullRouter.Reg(new(Echo))
	t.Cleanup(func() { srv.Close() })
	cli := tp.NewPeer(nil, auth.NewClient("t0k3n", nil), cliW, heartbeat.New(interval))
	t.Cleanup(func() { cli.Close() })
	sess := dial(t, cli, tptest.Serve(t, srv))
	select {
	case id := <-srvW.closed:
		t.Fatalf("server closed session %s", id)
	case id := <-cliW.closed:
		t.Fatalf("client closed session %s", id)
	case <-time.After(5 * interval):
	}
	pullEcho(t, sess)
	if srvW.pings.Load() == 0 || cliW.pings.Load() == 0 {
		t.Fatalf("pings: server got %d, client %d; want some on both", srvW.pings.Load(), cliW.pings.Load())
	}
}
