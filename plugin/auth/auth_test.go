package auth_test

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/tptest"
	"github.com/teleport-go/teleport/plugin/auth"
	"github.com/teleport-go/teleport/socket"
	"go.uber.org/goleak"
)

// TestMain formats every log line (TRACE) into a discarding handler, so the
// logging paths run under -race without noise, and checks for leaks.
func TestMain(m *testing.M) {
	tptest.DiscardLogs()
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// Who is a pull controller answering the id of the caller's session.
type Who struct{ tp.PullCtx }

// Ami answers the session id.
func (w *Who) Ami(*struct{}) (string, *tp.Rerror) { return w.Session().Id(), nil }

// watch reports the sessions its peer admitted (it runs after the auth
// plugin, so only admitted ones reach it) and every session closed.
type watch struct {
	admitted chan tp.PreSession
	closed   chan string
}

func newWatch() *watch {
	return &watch{admitted: make(chan tp.PreSession, 16), closed: make(chan string, 16)}
}

func (w *watch) Name() string { return "watch" }

func (w *watch) PostAccept(sess tp.PreSession) *tp.Rerror {
	w.admitted <- sess
	return nil
}

func (w *watch) PostDial(sess tp.PreSession) *tp.Rerror {
	w.admitted <- sess
	return nil
}

func (w *watch) PostDisconnect(sess tp.PostSession) *tp.Rerror {
	w.closed <- sess.Id()
	return nil
}

// expectClosed waits for w to see a session close, and checks it was never
// admitted.
func (w *watch) expectRefused(t *testing.T) {
	t.Helper()
	select {
	case <-w.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the refused connection")
	}
	select {
	case s := <-w.admitted:
		t.Fatalf("the server admitted session %s", s.Id())
	default:
	}
}

const goodToken = "s3cret"

// checkToken admits goodToken as user "alice", naming the session after her.
func checkToken(token string, sess tp.PreSession) *tp.Rerror {
	if token != goodToken {
		return auth.Unauthorized("unknown token")
	}
	sess.SetId("alice")
	return nil
}

// newPeer returns a peer closed when the test ends.
func newPeer(t *testing.T, cfg *tp.PeerConfig, plugins ...tp.Plugin) *tp.Peer {
	p := tp.NewPeer(cfg, plugins...)
	t.Cleanup(func() { p.Close() })
	return p
}

// newServer returns a served peer with the auth server plugin (cfg) and a
// watch after it.
func newServer(t *testing.T, peerCfg *tp.PeerConfig, cfg *auth.Config) (*tp.Peer, *watch, string) {
	w := newWatch()
	srv := newPeer(t, peerCfg, auth.NewServer(checkToken, cfg), w)
	srv.PullRouter.Reg(new(Who))
	return srv, w, tptest.Serve(t, srv)
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name       string
		token      string
		clientCfg  *auth.Config
		wantCode   int32  // 0: admitted
		wantDetail string // in the refusal's Detail
	}{
		{name: "good token", token: goodToken},
		{name: "bad token", token: "guess", wantCode: auth.CodeUnauthorized, wantDetail: "unknown token"},
		{name: "empty token", token: "", wantCode: auth.CodeUnauthorized, wantDetail: "empty token"},
		{name: "wrong uri", token: goodToken, clientCfg: &auth.Config{Uri: "/login"},
			wantCode: auth.CodeUnauthorized, wantDetail: "missing token: the first packet must be a pull of /auth/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, w, addr := newServer(t, nil, nil)
			cli := newPeer(t, nil, auth.NewClient(tt.token, tt.clientCfg))
			sess, rerr := cli.Dial(addr)
			if tt.wantCode != 0 {
				if rerr == nil {
					t.Fatal("Dial succeeded, want a refusal")
				}
				if rerr.Code != tt.wantCode || rerr.Message != "Unauthorized" || !strings.Contains(rerr.Detail, tt.wantDetail) {
					t.Fatalf("Dial: %v, want code %d, message Unauthorized, detail with %q", rerr, tt.wantCode, tt.wantDetail)
				}
				w.expectRefused(t)
				if n := srv.CountSession(); n != 0 {
					t.Fatalf("server has %d sessions, want 0", n)
				}
				if n := cli.CountSession(); n != 0 {
					t.Fatalf("client has %d sessions, want 0", n)
				}
				return
			}
			if rerr != nil {
				t.Fatalf("Dial: %v", rerr)
			}
			<-w.admitted
			for i := 0; i < 3; i++ {
				var id string
				if rerr := sess.Pull("/who/ami", struct{}{}, &id).Rerror(); rerr != nil {
					t.Fatalf("pull %d: %v", i, rerr)
				}
				if id != "alice" {
					t.Fatalf("the server's session id is %q, want alice (set by the CheckFunc)", id)
				}
			}
			if _, ok := srv.GetSession("alice"); !ok {
				t.Fatal("the server has no session alice")
			}
		})
	}
}

// TestClientWithoutPlugin: a client that does not send a token is refused,
// whether it pulls at once or stays silent past the timeout.
func TestClientWithoutPlugin(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name        string
		idleFirst   bool
		wantCode    int32
		wantMessage string
	}{
		// Its first pull is taken for the token pull and answered with
		// the refusal.
		{name: "pulls at once", wantCode: auth.CodeUnauthorized, wantMessage: "missing token"},
		// The server gives up after the timeout and closes the session.
		{name: "silent", idleFirst: true, wantCode: tp.CodeConnClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, w, addr := newServer(t, nil, &auth.Config{Timeout: timeout})
			cliWatch := newWatch()
			cli := newPeer(t, nil, cliWatch)
			start := time.Now()
			sess, rerr := cli.Dial(addr)
			if rerr != nil {
				t.Fatalf("Dial: %v", rerr)
			}
			if tt.idleFirst {
				w.expectRefused(t)
				select {
				case <-cliWatch.closed:
				case <-time.After(5 * time.Second):
					t.Fatal("the client's session stayed open")
				}
				if d := time.Since(start); d < timeout {
					t.Fatalf("closed after %v, before the timeout %v", d, timeout)
				}
			}
			rerr = sess.Pull("/who/ami", struct{}{}, new(string)).Rerror()
			if rerr == nil || rerr.Code != tt.wantCode || !strings.Contains(rerr.Detail, tt.wantMessage) {
				t.Fatalf("first pull: %v, want code %d with %q", rerr, tt.wantCode, tt.wantMessage)
			}
			if !tt.idleFirst {
				w.expectRefused(t)
				select {
				case <-cliWatch.closed:
				case <-time.After(5 * time.Second):
					t.Fatal("the client's session stayed open")
				}
			}
			if rerr := sess.Pull("/who/ami", struct{}{}, new(string)).Rerror(); rerr == nil || rerr.Code != tp.CodeConnClosed {
				t.Fatalf("second pull: %v, want code %d", rerr, tp.CodeConnClosed)
			}
		})
	}
}

// TestServerTimeout: a connection that does not complete the handshake is
// closed by the server once the timeout passes.
func TestServerTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name string
		send []byte
	}{
		{name: "sends nothing"},
		{name: "sends part of a frame", send: []byte{0, 0, 0, 64, 'f'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, w, addr := newServer(t, nil, &auth.Config{Timeout: timeout})
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := conn.Read(make([]byte, 64))
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("read %d bytes from the server, want the connection closed", n)
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server did not close the connection")
			}
			if elapsed < timeout*9/10 || elapsed > 10*timeout {
				t.Fatalf("closed after %v, want about %v", elapsed, timeout)
			}
			w.expectRefused(t)
			if n := srv.CountSession(); n != 0 {
				t.Fatalf("server has %d sessions, want 0", n)
			}
		})
	}
}

// TestClientTimeout: a server that never answers the token fails Dial once
// the timeout passes.
func TestClientTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := lis.Accept()
		if err == nil {
			accepted <- conn
		}
		close(accepted)
	}()
	cli := newPeer(t, nil, auth.NewClient(goodToken, &auth.Config{Timeout: timeout}))
	start := time.Now()
	_, rerr := cli.Dial(lis.Addr().String())
	elapsed := time.Since(start)
	if conn := <-accepted; conn != nil {
		defer conn.Close()
	}
	if rerr == nil || rerr.Code != tp.CodeDialFailed || !strings.Contains(rerr.Detail, "nothing received within 100ms") {
		t.Fatalf("Dial: %v, want code %d naming the timeout", rerr, tp.CodeDialFailed)
	}
	if elapsed < timeout*9/10 || elapsed > 10*timeout {
		t.Fatalf("Dial failed after %v, want about %v", elapsed, timeout)
	}
}

// TestServerWithoutPlugin: a server that does not check tokens answers the
// token pull like any unknown route, and the client refuses to go on.
func TestServerWithoutPlugin(t *testing.T) {
	srv := newPeer(t, nil)
	addr := tptest.Serve(t, srv)
	cli := newPeer(t, nil, auth.NewClient(goodToken, nil))
	if _, rerr := cli.Dial(addr); rerr == nil || rerr.Code != tp.CodeNotFound {
		t.Fatalf("Dial: %v, want code %d", rerr, tp.CodeNotFound)
	}
}

// TestTimeoutsUntouched: the handshake's timeout applies to the handshake
// only; the sessions go on with their own timeouts, including none, on both
// sides, and stay open while idle long past the handshake's timeout.
func TestTimeoutsUntouched(t *testing.T) {
	const timeout = 50 * time.Millisecond
	tests := []struct {
		name        string
		read, write time.Duration
	}{
		{name: "none"},
		{name: "longer than the handshake's", read: 2 * time.Second, write: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tp.PeerConfig{DefaultReadTimeout: tt.read, DefaultWriteTimeout: tt.write}
			acfg := &auth.Config{Timeout: timeout}
			_, w, addr := newServer(t, cfg, acfg)
			cliWatch := newWatch()
			cli := newPeer(t, cfg, auth.NewClient(goodToken, acfg), cliWatch)
			sess, rerr := cli.Dial(addr)
			if rerr != nil {
				t.Fatalf("Dial: %v", rerr)
			}
			for side, s := range map[string]tp.PreSession{"server": <-w.admitted, "client": <-cliWatch.admitted} {
				if r, wr := s.ReadTimeout(), s.WriteTimeout(); r != tt.read || wr != tt.write {
					t.Errorf("%s session timeouts after the handshake: read %v, write %v; want %v, %v", side, r, wr, tt.read, tt.write)
				}
			}
			// Stay idle well past the handshake's timeout.
			select {
			case id := <-w.closed:
				t.Fatalf("server closed session %s while idle", id)
			case id := <-cliWatch.closed:
				t.Fatalf("client closed session %s while idle", id)
			case <-time.After(5 * timeout):
			}
			if rerr := sess.Pull("/who/ami", struct{}{}, new(string)).Rerror(); rerr != nil {
				t.Fatalf("pull after idling: %v", rerr)
			}
		})
	}
}

// TestNewServerNilCheck: a nil CheckFunc is a programming mistake.
func TestNewServerNilCheck(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "nil CheckFunc") {
			t.Fatalf("recovered %v, want a panic naming the nil CheckFunc", r)
		}
	}()
	auth.NewServer(nil, nil)
}

// TestSlowCheck: the timeout bounds the CheckFunc too.
func TestSlowCheck(t *testing.T) {
	const timeout = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	slow := func(string, tp.PreSession) *tp.Rerror {
		<-release
		return nil
	}
	w := newWatch()
	srv := newPeer(t, nil, auth.NewServer(slow, &auth.Config{Timeout: timeout}), w)
	addr := tptest.Serve(t, srv)
	cli := newPeer(t, nil, auth.NewClient(goodToken, nil))
	start := time.Now()
	_, rerr := cli.Dial(addr)
	if rerr == nil || rerr.Code != tp.CodeDialFailed || !strings.Contains(rerr.Detail, "the connection was closed") {
		t.Fatalf("Dial: %v, want code %d, the connection closed", rerr, tp.CodeDialFailed)
	}
	if d := time.Since(start); d > 10*timeout {
		t.Fatalf("Dial failed after %v, want about %v", d, timeout)
	}
	// The CheckFunc has not returned yet: the session is not over for
	// the server until it does.
	release <- struct{}{}
	w.expectRefused(t)
}

// TestCoreRestoredTimeoutClearsDeadline documents what the core must do for
// a handshake bounded by the session's read timeout (the natural way to
// write one with PreSession): Receive sets a connection deadline, and once
// the hook restores a read timeout of 0, the read loop must clear that
// deadline, or the session dies when it passes. The auth plugin avoids the
// problem with a watchdog that closes the session instead.
func TestCoreRestoredTimeoutClearsDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	srv := newPeer(t, nil, boundedReceive{timeout})
	srv.PullRouter.Reg(new(Who))
	addr := tptest.Serve(t, srv)
	cli := newPeer(t, nil, sendHello{})
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatalf("Dial: %v", rerr)
	}
	time.Sleep(5 * timeout) // idle past the handshake's deadline
	if rerr := sess.Pull("/who/ami", struct{}{}, new(string)).Rerror(); rerr != nil {
		t.Fatalf("pull after idling: %v", rerr)
	}
}

// boundedReceive reads one packet in PostAccept under a read timeout, and
// then restores the session's own.
type boundedReceive struct{ timeout time.Duration }

func (boundedReceive) Name() string { return "bounded-receive" }

func (b boundedReceive) PostAccept(sess tp.PreSession) *tp.Rerror {
	prev := sess.ReadTimeout()
	sess.SetReadTimeout(b.timeout)
	defer sess.SetReadTimeout(prev)
	if err := sess.Receive(socket.NewPacket()); err != nil {
		return tp.NewRerror(tp.CodeBadPacket, "Bad Packet", err.Error())
	}
	return nil
}

// sendHello sends one push packet in PostDial.
type sendHello struct{}

func (sendHello) Name() string { return "send-hello" }

func (sendHello) PostDial(sess tp.PreSession) *tp.Rerror {
	if err := sess.Send(socket.NewPacket(socket.WithPtype(tp.TypePush), socket.WithUri("/hello"))); err != nil {
		return tp.NewRerror(tp.CodeWriteFailed, "Write Failed", err.Error())
	}
	return nil
}

// Connections that never send their token hold handshake slots, not
// session slots: with as many of them as MaxSessions, a client with a
// token still gets in at once, and a flood past MaxHandshakes is closed at
// once (issue 25, defect 3: the idle connections locked it out).
func TestIdleHandshakesCannotFillMaxSessions(t *testing.T) {
	const maxSessions = 10
	srv := newPeer(t, &tp.PeerConfig{MaxSessions: maxSessions, MaxHandshakes: 3 * maxSessions})
	srv.PluginContainer().Add(auth.NewServer(checkToken, nil))
	srv.PullRouter.Reg(new(Who))
	addr := tptest.Serve(t, srv)
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 2 * maxSessions { // twice MaxSessions, within MaxHandshakes
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	cli := newPeer(t, nil, auth.NewClient(goodToken, nil))
	start := time.Now()
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatalf("a client with a token, beside %d idle connections: %v", len(idle), rerr)
	}
	var id string
	if rerr := sess.Pull("/who/ami", nil, &id).Rerror(); rerr != nil || id != "alice" {
		t.Fatalf("pull: %q, %v", id, rerr)
	}
	t.Logf("the client got in and pulled in %v beside %d idle connections", time.Since(start), len(idle))
	// Past MaxHandshakes, connections are closed at once: of 11 more, one
	// finds no slot (whichever the server accepts last).
	var more []net.Conn
	for range maxSessions + 1 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		more = append(more, c)
	}
	closed := 0
	for _, c := range more {
		// Its own deadline each: a read past its deadline reports the
		// timeout, not the end of a closed connection.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed != 1 {
		t.Fatalf("%d connections past MaxHandshakes were closed, want 1", closed)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A token frame larger than MaxHandshakeFrame is refused on its size field,
// before any of it is read: unauthenticated clients streaming huge
// "tokens" cost the server nothing (issue 25, defect 1: 4 connections each
// streaming 250 MiB drove the server to 1.9 GB).
func TestHugeTokenRefusedOnItsHead(t *testing.T) {
	srv, w, addr := newServer(t, nil, nil)
	_ = srv
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns, declared = 4, 250 << 20
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			head := binary.BigEndian.AppendUint32(nil, declared)
			head = append(head, 'f', 0) // the fast protocol, no filter
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(head); err != nil {
				return
			}
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < declared; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return // closed by the server: what is expected
				}
			}
			t.Error("the server read a 250 MiB token to its end")
		}()
	}
	wg.Wait()
	for range conns {
		w.expectRefused(t)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d KiB under %d connections declaring %d MiB tokens", grown>>10, conns, declared>>20)
	if grown > 8<<20 {
		t.Fatalf("the heap grew by %d MiB", grown>>20)
	}
}
