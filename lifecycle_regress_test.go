package tp

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

// waitPull waits up to d for a pull to end.
func waitPull(done chan *PullCmd, d time.Duration) (*PullCmd, bool) {
	select {
	case cmd := <-done:
		return cmd, true
	case <-time.After(d):
		return nil, false
	}
}

// A session draining after a goaway whose remote peer dies before it
// replies ends its pull in flight and closes (PostDisconnect runs, the
// peer's table lets it go), rather than leave both waiting until
// Peer.Close.
func TestDrainingSessionLosingItsConnectionEndsItsPulls(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
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

// After a goaway moved a redialing session to a new connection, the pulls
// still in flight on the old one end with CodeConnClosed when that
// connection breaks before their replies, and the old socket is closed.
func TestMovedSessionEndsPullsOfALostOldConnection(t *testing.T) {
	p := newPair(t, nil, &PeerConfig{RedialTimes: 3}, regHome)
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

// Closing a draining session while one of its pulls waits returns: ending
// the pull must not close the session a second time from within its close
// (a sync.Once re-entered deadlocks), and Peer.Close returns after it.
func TestClosingADrainingSessionWithAPullWaiting(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
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

// A session closed while its move's new connection is in its PostDial
// hooks does not install that connection: nothing is left open, and
// Peer.Close returns.
func TestSessionClosedDuringAMoveLeavesNoConnection(t *testing.T) {
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

// A remote peer that sends pulls and never reads the replies fills the
// socket buffers, so its handlers never finish writing; Peer.Close still
// returns within its bound (writes blocked past the drain fail), even with
// no write timeout configured: one bad client cannot hang a shutdown.
func TestCloseReturnsDespiteAPeerThatNeverReads(t *testing.T) {
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

// SetId racing the session's close leaves no entry behind: the id change
// and the re-keying of the table happen under one lock, so GetSession of
// the old id never returns a closed session. The race is run for real; it
// fails only when the scheduler lands in the window.
func TestSetIdRacingClose(t *testing.T) {
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
