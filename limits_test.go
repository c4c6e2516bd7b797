package tp

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// Regression tests of issue 11: each of the eight faults found on a live
// server, at the root package's level (the socket, utils and xfer tests
// cover the decoders' share).

// Gate is a pull controller whose handler waits for gate, per test.
type Gate struct {
	PullCtx
}

var gate chan struct{}

// Wait waits for gate, then answers n.
func (g *Gate) Wait(n *int) (int, *Rerror) {
	<-gate
	return *n, nil
}

// rawClient dials addr and speaks frames through a socket of its own.
func rawClient(t *testing.T, addr string) (*net.TCPConn, socket.Socket) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), socket.NewSocket(c)
}

// TestHalfCloseGetsEveryReply: a client that writes 21 pulls and closes its
// write side still reads the 21 replies (issue 11, item 4).
func TestHalfCloseGetsEveryReply(t *testing.T) {
	gate = make(chan struct{})
	p := newPair(t, nil, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Gate)) })
	conn, sock := rawClient(t, p.addr)
	const n = 21
	for i := 1; i <= n; i++ {
		if err := sock.WritePacket(socket.NewPacket(socket.WithSeq(uint64(i)), socket.WithPtype(TypePull),
			socket.WithUri("/gate/wait"), socket.WithBodyCodec('j'), socket.WithBody(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the handlers to start", func() bool { return p.srv.handling.Load() == n })
	close(gate)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	seen := map[uint64]bool{}
	for {
		var got int
		in := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return &got }))
		if err := sock.ReadPacket(in); err != nil {
			break
		}
		if in.Ptype() != TypeReply || uint64(got) != in.Seq() {
			t.Fatalf("reply %s carries %d", in, got)
		}
		seen[in.Seq()] = true
	}
	if len(seen) != n {
		t.Fatalf("%d of %d replies arrived before the server closed", len(seen), n)
	}
}

// TestWriteTimeoutUnderTraffic: a pull stuck behind a peer that stopped
// reading fails about the write timeout after its write began, though new
// pulls keep coming every 100 ms (issue 11, item 5: 8.5 s before).
func TestWriteTimeoutUnderTraffic(t *testing.T) {
	const timeout = 500 * time.Millisecond
	cli := NewPeer(&PeerConfig{DefaultWriteTimeout: timeout})
	defer cli.Close()
	sess, rerr := cli.Dial(silentServer(t))
	if rerr != nil {
		t.Fatal(rerr)
	}
	big := bytes.Repeat([]byte("w"), 1<<20)
	type result struct {
		took time.Duration
		rerr *Rerror
	}
	results := make(chan result, 100)
	var wg sync.WaitGroup
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 60 && sess.IsOk(); i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rerr := sess.Pull("/x", big, nil, socket.WithContext(ctx)).Rerror()
			results <- result{time.Since(start), rerr}
		}()
	}
	wg.Wait()
	close(results)
	failed := 0
	for r := range results {
		if r.rerr == nil || r.rerr.Code == CodeHandleTimeout {
			t.Fatalf("a pull ended with %v after %v, want a write failure or a close", r.rerr, r.took)
		}
		failed++
		if r.took > timeout+1500*time.Millisecond {
			t.Errorf("a pull ended %v after it started (%v), want about the %v write timeout", r.took, r.rerr, timeout)
		}
	}
	if failed == 0 {
		t.Fatal("no pull failed")
	}
}

// TestCloseBehindAFullSession: with MaxSessionHandlers handlers blocked on
// one session and more messages queued behind them, Close returns within
// its bound (issue 11, item 6: it never returned).
func TestCloseBehindAFullSession(t *testing.T) {
	blockGate = make(chan struct{})
	defer close(blockGate)
	srv := NewPeer(&PeerConfig{MaxSessionHandlers: 4, CloseTimeout: 300 * time.Millisecond})
	srv.PushRouter.Reg(new(Blocker))
	lis := listenLoopback(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := NewPeer(nil)
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	for i := 0; i < 10; i++ {
		if rerr := sess.Push("/blocker/wait", i); rerr != nil {
			t.Fatal(rerr)
		}
	}
	waitFor(t, "the handlers to fill up", func() bool { return srv.handling.Load() == 4 })
	closed := make(chan struct{})
	start := time.Now()
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Logf("Close returned after %v", time.Since(start))
	case <-time.After(DefaultCloseDrain + 3*time.Second):
		t.Fatal("Close did not return within its bound")
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// TestReplyWithUnknownCodecEndsItsPull: a reply whose body codec nobody
// registered ends its pull at once with CodeBadPacket (issue 11, item 7).
func TestReplyWithUnknownCodecEndsItsPull(t *testing.T) {
	lis := listenLoopback(t)
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sock := socket.NewSocket(c)
		in := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return new(socket.RawBody) }))
		if sock.ReadPacket(in) != nil {
			return
		}
		body := socket.RawBody("x")
		_ = sock.WritePacket(socket.NewPacket(socket.WithSeq(in.Seq()), socket.WithPtype(TypeReply),
			socket.WithUri(in.Uri()), socket.WithBodyCodec(0xEE), socket.WithBody(&body)))
		_, _ = c.Read(make([]byte, 1)) // hold the connection open
	}()
	cli := NewPeer(nil)
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	done := make(chan *PullCmd, 1)
	var reply string
	sess.AsyncPull("/x", "hello", &reply, done)
	select {
	case cmd := <-done:
		if cmd.Rerror() == nil || cmd.Rerror().Code != CodeBadPacket {
			t.Fatalf("pull ended with %v, want CodeBadPacket", cmd.Rerror())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pull still waits for a reply that arrived")
	}
}

// TestSmallGoroutinePool: with a pool of 8 goroutines, more sessions than
// that each get answered, and dials respect their context (issue 11, item
// 8: read loops held the pool's slots for good).
func TestSmallGoroutinePool(t *testing.T) {
	SetGopool(8, time.Second)
	defer SetGopool(0, 0)
	p := newPair(t, nil, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Home)) })
	sessions := []Session{p.cliSess}
	for i := 0; i < 9; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		sess, rerr := p.cli.DialContext(ctx, p.addr)
		cancel()
		if rerr != nil {
			t.Fatalf("dial %d: %v", i+2, rerr)
		}
		sessions = append(sessions, sess)
	}
	for i, sess := range sessions {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var sum int
		rerr := sess.Pull("/home/test_add", [2]int{i, 1}, &sum, socket.WithContext(ctx)).Rerror()
		cancel()
		if rerr != nil || sum != i+1 {
			t.Fatalf("session %d: %d, %v", i+1, sum, rerr)
		}
	}
}

// TestMaxSessions: connections accepted past MaxSessions are closed at
// once; the sessions within it are served.
func TestMaxSessions(t *testing.T) {
	p := newPair(t, &PeerConfig{MaxSessions: 2}, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Home)) })
	second, rerr := p.cli.Dial(p.addr)
	if rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "two sessions", func() bool { return p.srv.CountSession() == 2 })
	conn, _ := rawClient(t, p.addr)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the third connection read %d bytes, want it closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the third connection was not closed")
	}
	for _, sess := range []Session{p.cliSess, second} {
		var sum int
		if rerr := sess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
			t.Fatalf("a session within the limit: %d, %v", sum, rerr)
		}
	}
}

// TestAcceptedSessionCountedOnce: an accepted connection holds a handshake
// slot until its session is in the table or it is refused, and not a
// moment longer: a session counted twice made MaxSessions refuse the next
// connection (seen under load as a refused second session at MaxSessions
// 2).
func TestAcceptedSessionCountedOnce(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     *PeerConfig
		refused bool
	}{
		{"accepted", nil, false},
		{"accepted with no session limit", &PeerConfig{MaxSessions: -1}, false},
		{"refused past MaxSessions", &PeerConfig{MaxSessions: 1}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.cfg, nil, nil) // returns once its handshake slot is freed
			before := p.srv.CountSession()
			srvConn, cliConn := net.Pipe()
			defer cliConn.Close()
			sess, err := p.srv.serveConn(srvConn, nil)
			if (err != nil) != tt.refused || (sess == nil) != tt.refused {
				t.Fatalf("serveConn = %v, %v; refused %v", sess, err, tt.refused)
			}
			added := 1
			if tt.refused {
				added = 0
			}
			if n := p.srv.CountSession() - before; n != added || p.srv.handshakes.Load() != 0 {
				t.Fatalf("%d new sessions in the table, %d handshake slots held; want %d and none", n, p.srv.handshakes.Load(), added)
			}
		})
	}
}

// TestRejectOverload: past MaxSessionHandlers with RejectOverload, a pull
// is answered 503 at once and its handler does not run; without it, the
// pull waits its turn.
func TestRejectOverload(t *testing.T) {
	for _, reject := range []bool{true, false} {
		name := map[bool]string{true: "reject", false: "back-pressure"}[reject]
		t.Run(name, func(t *testing.T) {
			gate = make(chan struct{})
			p := newPair(t, &PeerConfig{MaxSessionHandlers: 2, RejectOverload: reject}, nil, func(srv, cli *Peer) {
				srv.PullRouter.Reg(new(Gate))
			})
			done := make(chan *PullCmd, 3)
			for i := 0; i < 2; i++ {
				p.cliSess.AsyncPull("/gate/wait", i, new(int), done)
			}
			waitFor(t, "two handlers", func() bool { return p.srv.handling.Load() == 2 })
			p.cliSess.AsyncPull("/gate/wait", 2, new(int), done)
			if reject {
				select {
				case cmd := <-done:
					if cmd.Rerror() == nil || cmd.Rerror().Code != CodeServiceUnavailable {
						t.Fatalf("the third pull ended with %v, want 503", cmd.Rerror())
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the third pull was not refused")
				}
				close(gate)
				for i := 0; i < 2; i++ {
					if cmd := <-done; cmd.Rerror() != nil {
						t.Fatal(cmd.Rerror())
					}
				}
				return
			}
			select {
			case cmd := <-done:
				t.Fatalf("a pull ended (%v) while both handlers were blocked", cmd.Rerror())
			case <-time.After(100 * time.Millisecond):
			}
			close(gate)
			for i := 0; i < 3; i++ {
				if cmd := <-done; cmd.Rerror() != nil {
					t.Fatal(cmd.Rerror())
				}
			}
		})
	}
}

// TestMaxSessionsServeConn: ServeConn, which transports such as WebSocket
// use, refuses a connection past MaxSessions too.
func TestMaxSessionsServeConn(t *testing.T) {
	p := newPair(t, &PeerConfig{MaxSessions: 1}, nil, nil)
	a, b := net.Pipe()
	defer b.Close()
	if _, err := p.srv.ServeConn(a); err == nil {
		t.Fatal("ServeConn past MaxSessions: no error")
	}
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("the refused connection was not closed")
	}
}

// pooledGoroutines counts the goroutines of goutil pools, idle or busy.
func pooledGoroutines() int {
	return bytes.Count(allStacks(), []byte("pool.(*GoPool).goroutineFunc"))
}

// The idle duration SetGopool sets governs the read pool too: after a
// burst on many sessions, no pooled goroutine is left a few idle durations
// later (the read pool used to keep its own for 10 s).
func TestSetGopoolIdleGovernsTheReadPool(t *testing.T) {
	SetGopool(0, 50*time.Millisecond)
	defer SetGopool(0, 0)
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}})
	srv.PullRouter.Reg(new(Home))
	addr := listenPeer(t, srv)
	cli := NewPeer(nil)
	defer cli.Close()
	var sessions []Session
	for range 40 {
		sess, rerr := cli.Dial(addr)
		if rerr != nil {
			t.Fatal(rerr)
		}
		sessions = append(sessions, sess)
	}
	var wg sync.WaitGroup
	for _, sess := range sessions {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var sum int
				if rerr := sess.Pull("/home/test_add", [2]int{1, 1}, &sum).Rerror(); rerr != nil {
					t.Error(rerr)
				}
			}()
		}
	}
	wg.Wait()
	if n := pooledGoroutines(); n == 0 {
		t.Fatal("the burst left no pooled goroutine to watch")
	}
	waitFor(t, "the pools' idle goroutines to end", func() bool { return pooledGoroutines() == 0 })
}

// Back pulls the caller back on its own session, as the README's nested
// pull does.
type Back struct{ PullCtx }

// Nest answers with what /back/echo on the caller's side answers.
func (b *Back) Nest(n *int) (int, *Rerror) {
	var got int
	if rerr := b.Session().Pull("/back/echo", *n, &got, socket.WithContext(b.Context())).Rerror(); rerr != nil {
		return 0, rerr
	}
	return got, nil
}

// Echo answers with its argument.
func (b *Back) Echo(n *int) (int, *Rerror) { return *n, nil }

// Handlers at MaxSessionHandlers that pull back to their caller get their
// replies: the reader never waits for a slot while replies may be behind
// (issue 21, defect 3: the reader blocked on the third pull, and the
// nested pulls' replies were never read).
func TestNestedPullsAtTheHandlerLimit(t *testing.T) {
	tests := []struct {
		name  string
		pulls int
		// allOK: every pull succeeds; else some may be refused 503,
		// the queue being full while replies were awaited.
		allOK bool
	}{
		{"3 pulls, limit 2", 3, true},
		{"4 pulls, limit 2: 2 queued", 4, true},
		{"12 pulls, limit 2: past the queue", 12, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, &PeerConfig{MaxSessionHandlers: 2}, nil, func(srv, cli *Peer) {
				srv.PullRouter.Reg(new(Back))
				cli.PullRouter.Reg(new(Back))
			})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			done := make(chan *PullCmd, tt.pulls)
			results := make([]int, tt.pulls)
			for i := range tt.pulls {
				p.cliSess.AsyncPull("/back/nest", i+1, &results[i], done, socket.WithContext(ctx))
			}
			ok := 0
			for range tt.pulls {
				cmd := <-done
				switch rerr := cmd.Rerror(); {
				case rerr == nil:
					ok++
				case !tt.allOK && rerr.Code == CodeServiceUnavailable:
				default:
					t.Errorf("pull ended with %v", rerr)
				}
			}
			if ok < min(tt.pulls, 4) {
				t.Fatalf("%d of %d pulls succeeded, want at least %d", ok, tt.pulls, min(tt.pulls, 4))
			}
		})
	}
}

// Connections sending large frames slowly share the peer's budget for
// frames being read: what they hold together stays within
// MaxPendingFrameBytes, the frames that would pass it end their
// connections, and other sessions are served (issue 25, defect 1).
func TestFrameBudgetAcrossConnections(t *testing.T) {
	const budget = 256 << 10
	p := newPair(t, &PeerConfig{MaxPendingFrameBytes: budget}, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Home)) })
	const conns = 4
	var raw []*rawConn
	for range conns {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		rc := newRawConn(c)
		defer rc.Close()
		// A pull of 200 KiB, of which 150 KiB arrive: then nothing.
		frame := pullFrame(1, "/home/bytes", `"`+strings.Repeat("x", 200<<10)+`"`)
		if err := rc.send(frame[:150<<10]); err != nil {
			t.Fatal(err)
		}
		raw = append(raw, rc)
	}
	closed := 0
	for _, rc := range raw {
		_ = rc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := rc.br.ReadByte(); err != nil && !isTimeout(err) {
			closed++
		}
	}
	used, limit := p.srv.frameBudget.InUse(), p.srv.frameBudget.Limit()
	t.Logf("%d of %d connections ended; %d KiB of the %d KiB budget in use", closed, conns, used>>10, limit>>10)
	if used > limit || closed < 2 {
		t.Fatalf("%d bytes in use of %d; %d connections ended, want at least 2", used, limit, closed)
	}
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
		t.Fatalf("a well-behaved session: %d, %v", sum, rerr)
	}
}
