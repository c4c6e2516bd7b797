package tp

import (
	"fmt"
	"net"
	"sync"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
	"testing"
	"time"
)

// reviewPair is newPair whose cleanup does not hang the test binary when
// Close deadlocks: each Close is given 5 seconds, then reported.
func reviewPair(t *testing.T, srvCfg, cliCfg *PeerConfig, setup func(srv, cli *Peer)) *pair {
	t.Helper()
	watch := &acceptWatch{ch: make(chan PreSession, 16)}
	srv := NewPeer(srvCfg, watch)
	cli := NewPeer(cliCfg)
	if setup != nil {
		setup(srv, cli)
	}
	lis := listenLoopback(t)
	go srv.Serve(lis)
	t.Cleanup(func() {
		for _, p := range []*Peer{cli, srv} {
			closed := make(chan struct{})
			go func() { p.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Errorf("Peer.Close hung (goroutines are left behind)")
				return
			}
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
	return &pair{srv: srv, cli: cli, cliSess: sess, srvSess: srvSess, addr: lis.Addr().String()}
}

// waitPull waits up to d for a pull to end.
func waitPull(done chan *PullCmd, d time.Duration) (*PullCmd, bool) {
	select {
	case cmd := <-done:
		return cmd, true
	case <-time.After(d):
		return nil, false
	}
}

// Found in review, fixed in the working tree while it ran (see the report);
// kept as a regression test. Was: (session.go:495, readLoop): once a goaway made a session drain
// (goaway.go:56, drain retires the session's only connection), a read error
// on that connection makes the read loop return silently ("replaced after a
// goaway") although nothing replaced it. If the remote peer dies after its
// goaway instead of replying, the pull in flight never ends, the session is
// never closed (no PostDisconnect) and stays in the peer's table until
// Peer.Close.
func TestReviewGoawayDrainThenDisconnectLeavesPullWaiting(t *testing.T) {
	p := reviewPair(t, nil, nil, regHome)
	done := make(chan *PullCmd, 1)
	p.cliSess.AsyncPull("/home/sleep", 3000, new(int), done)
	waitFor(t, "the pull to reach its handler", func() bool { return p.srv.handling.Load() == 1 })
	cli := p.cliSess.(*session)
	p.srvSess.(*session).sendGoaway()
	waitFor(t, "the client to drain", func() bool { return cli.draining.Load() })
	// The remote peer goes away without replying (a crash, a shutdown
	// timeout): the connection breaks.
	p.srvSess.Close()
	cmd, ok := waitPull(done, 2*time.Second)
	if !ok {
		t.Fatalf("the pull in flight never ended after the connection broke; client session closed: %v, client sessions in table: %d",
			cli.closed.Load(), p.cli.CountSession())
	}
	if rerr := cmd.Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("pull: %v, want CodeConnClosed", rerr)
	}
}

// Found in review, fixed in the working tree while it ran (see the report);
// kept as a regression test. Was: (session.go:495, readLoop): same line, in the migrate case. After a
// goaway moved a redialing session to a new connection (goaway.go:84), the
// pulls still in flight on the old, retired connection wait for their
// replies there. If that connection breaks first, its read loop returns
// without ending them: they wait forever (Pull without a deadline hangs),
// and the old socket is never closed on our side either.
func TestReviewGoawayMigrateThenOldConnLostLeavesPullWaiting(t *testing.T) {
	p := reviewPair(t, nil, &PeerConfig{RedialTimes: 3}, regHome)
	done := make(chan *PullCmd, 1)
	p.cliSess.AsyncPull("/home/sleep", 3000, new(int), done)
	waitFor(t, "the pull to reach its handler", func() bool { return p.srv.handling.Load() == 1 })
	cli := p.cliSess.(*session)
	oldSock := cli.sock.Load()
	p.srvSess.(*session).sendGoaway()
	// The server still listens: the client moves to a second connection.
	waitFor(t, "the client to move", func() bool { return cli.sock.Load() != oldSock && p.srv.CountSession() == 2 })
	p.srvSess.Close() // the old connection breaks before the reply
	cmd, ok := waitPull(done, 2*time.Second)
	if !ok {
		t.Fatal("the pull in flight on the retired connection never ended after that connection broke")
	}
	if rerr := cmd.Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("pull: %v, want CodeConnClosed", rerr)
	}
}

// Found in review, fixed in the working tree while it ran (see the report);
// kept as a regression test. Was: (goaway.go:109-118 called from session.go:440/463): closing a
// draining session while one of its pulls waits deadlocks. closeBy runs
// inside closeOnce.Do; failPending ends the waiting pull; PullCmd.done calls
// releaseSock, which sees the retired connection idle and calls
// retiredIdle -> closeBy again -> closeOnce.Do re-entered: sync.Once
// deadlocks. The caller of Close (a user, Peer.Close, the read loop) hangs
// forever, and the read loop that then finds the connection closed blocks
// on the same Once, so Peer.Close hangs in readLoops.Wait too.
func TestReviewCloseDrainingSessionDeadlocks(t *testing.T) {
	p := reviewPair(t, nil, nil, regHome)
	done := make(chan *PullCmd, 1)
	p.cliSess.AsyncPull("/home/sleep", 1000, new(int), done)
	waitFor(t, "the pull to reach its handler", func() bool { return p.srv.handling.Load() == 1 })
	p.srvSess.(*session).sendGoaway() // the server announces it is closing
	cli := p.cliSess.(*session)
	waitFor(t, "the client to drain", func() bool { return cli.draining.Load() })
	closed := make(chan struct{})
	go func() { p.cliSess.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Session.Close of a draining session with a pull in flight deadlocked")
	}
	if cmd, ok := waitPull(done, time.Second); !ok || cmd.Rerror() == nil || cmd.Rerror().Code != CodeConnClosed {
		t.Fatalf("pull after Close: ended %v", ok)
	}
}

// blockSecondDial blocks every PostDial after the first until release is
// closed, telling entered when one is blocked.
type blockSecondDial struct {
	n       int
	entered chan struct{}
	release chan struct{}
}

func (b *blockSecondDial) Name() string { return "block-second-dial" }
func (b *blockSecondDial) PostDial(PreSession) *Rerror {
	b.n++
	if b.n > 1 {
		close(b.entered)
		<-b.release
	}
	return nil
}

// Found in review, fixed in the working tree while it ran (see the report);
// kept as a regression test. Was: (goaway.go:74-89, migrate): unlike redial (redial.go:46), migrate
// never checks whether the session was closed while it dialed. A session
// closed during the new connection's dial or PostDial hooks gets the new
// connection stored and a read loop started on it: the connection stays
// open (closeBy already ran, nothing will close it), the remote keeps a
// session, and Peer.Close blocks in readLoops.Wait (peer.go:360) until the
// remote peer closes the connection.
func TestReviewMigrateOnClosedSessionLeaksConnection(t *testing.T) {
	block := &blockSecondDial{entered: make(chan struct{}), release: make(chan struct{})}
	p := newPair(t, nil, &PeerConfig{RedialTimes: 3}, func(srv, cli *Peer) {
		regHome(srv, cli)
		cli.PluginContainer().Add(block)
	})
	cli := p.cliSess.(*session)
	old := cli.sock.Load()
	p.srvSess.(*session).sendGoaway()
	<-block.entered // migrate is running the PostDial hooks of the new connection
	p.cliSess.Close()
	close(block.release)
	waitFor(t, "the dialer to end", func() bool {
		cli.lc.mu.Lock()
		defer cli.lc.mu.Unlock()
		return !cli.lc.dialing
	})
	if cli.sock.Load() != old {
		t.Fatal("a closed session installed the dialer's new connection")
	}
	closed := make(chan struct{})
	go func() { p.cli.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		n := p.srv.CountSession()
		p.srv.Close() // unblocks the client's leaked read loop
		<-closed
		t.Fatalf("client Peer.Close hung: a closed session's migrate left a live connection and read loop (server sessions: %d)", n)
	}
}

// Found in review, fixed in the working tree while it ran (see the report);
// kept as a regression test. Was: (peer.go:354 with socket/fast.go:146-147,170): Peer.Close waits
// without bound (timeout 0) for every handler to finish, and a handler
// finishes only once its reply is written. A remote peer that sends pulls
// and never reads the replies fills the socket buffers: the flusher blocks
// in Write, the other repliers wait on the drained Cond, nothing ever
// breaks the connection, and with the default config (no WriteTimeout)
// Close never returns. One bad client hangs the server's shutdown.
func TestReviewCloseHangsOnPeerThatNeverReads(t *testing.T) {
	srv := NewPeer(nil)
	srv.PullRouter.Reg(new(Home))
	lis := listenLoopback(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { conn.Close(); srv.Close(); <-served }()
	waitFor(t, "the session", func() bool { return srv.CountSession() == 1 })
	var srvSess *session
	srv.RangeSession(func(s Session) bool { srvSess = s.(*session); return false })

	// A raw client writes 24 pulls of /home/bytes with 1 MiB bodies, and
	// never reads.
	body := make([]byte, 1<<20)
	go func() {
		cli := newSockRef(conn, nil, 0)
		for i := range 24 {
			out := socket.GetPacket()
			out.SetSeq(uint64(i + 1))
			out.SetPtype(TypePull)
			out.SetUri("/home/bytes")
			out.SetBody(body)
			out.SetBodyCodec(codec.IdString)
			if err := cli.WritePacket(out); err != nil {
				return
			}
		}
	}()
	// Wait until the server's writes are stuck.
	waitFor(t, "the server to handle pulls", func() bool { return srv.handling.Load() > 0 })
	time.Sleep(500 * time.Millisecond) // let its socket buffers fill
	_ = srvSess
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(DefaultCloseDrain + closeWriteGrace + 10*time.Second): // a hang detector, with room for a loaded machine
		conn.Close()
		<-closed
		t.Fatal("Peer.Close hung behind a remote peer that never reads")
	}
}

// Found in review, fixed in the working tree while it ran (see the report);
// kept as a regression test. Was: (session.go:204-212 with session_table.go:27-34): SetId changes s.id
// and only then re-keys the table, without holding the table lock across
// both. A close in between (session_table.remove) looks the session up by
// its new id, finds nothing there, and deletes it from the set only; rekey
// then sees it gone and returns, so the old id keeps pointing at the closed
// session forever: GetSession(oldId) returns a dead session and the map
// entry leaks.

// The same race, run for real: it fails only when the scheduler lands in
// the window.
func TestReviewSetIdRacingCloseConcurrent(t *testing.T) {
	p := NewPeer(nil)
	defer p.Close()
	for i := range 5000 {
		a, b := net.Pipe()
		s := newSession(p, a, nil)
		s.SetId(fmt.Sprint("old-", i))
		p.sessions.add(s)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); s.SetId(fmt.Sprint("new-", i)) }()
		go func() { defer wg.Done(); s.closeBy(nil) }()
		wg.Wait()
		b.Close()
		if got, ok := p.GetSession(fmt.Sprint("old-", i)); ok {
			t.Fatalf("iteration %d: closed session %q still found under its old id; table index size %d", i, got.Id(), len(p.sessions.byId))
		}
	}
}
