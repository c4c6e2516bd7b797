package tp

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A stop-and-start deploy: the server closes gracefully (a goaway, its
// listener already closed, so the client's move cannot dial), and a new one
// starts on the same address 250 ms later. The redialing client's session
// stays the same Session and works again (issue 21, defect 1: it used to
// drain and close for good).
func TestStopThenStartOnTheSameAddressKeepsTheSession(t *testing.T) {
	lis := listenLoopback(t)
	addr := lis.Addr().String()
	oldSrv := NewPeer(nil)
	oldSrv.PullRouter.Reg(new(Home))
	oldServed := make(chan error, 1)
	go func() { oldServed <- oldSrv.Serve(lis) }()
	cli := NewPeer(&PeerConfig{RedialTimes: 20})
	defer cli.Close()
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var sum int
	if rerr := sess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	start := time.Now()
	if err := oldSrv.Close(); err != nil {
		t.Fatal(err)
	}
	<-oldServed
	if d := time.Since(start); d >= DefaultCloseDrain {
		t.Errorf("the old server's Close took %v: the idle client did not leave", d)
	}
	<-time.After(250 * time.Millisecond) // the deploy's gap
	lis2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address cannot be bound again at once: %v", err)
	}
	newSrv := NewPeer(nil)
	newSrv.PullRouter.Reg(new(Home))
	newServed := make(chan error, 1)
	go func() { newServed <- newSrv.Serve(lis2) }()
	defer func() { newSrv.Close(); <-newServed }()
	waitFor(t, "the session to be back", sess.IsOk)
	if rerr := sess.Pull("/home/test_add", [2]int{3, 4}, &sum).Rerror(); rerr != nil || sum != 7 {
		t.Fatalf("pull after the restart: %d, %v", sum, rerr)
	}
	if n := cli.CountSession(); n != 1 {
		t.Fatalf("the client has %d sessions, want the one", n)
	}
}

// slowMoveDial is a client plugin whose PostDial hooks, after the first
// dial, take 600 ms.
type slowMoveDial struct{ dials atomic.Int64 }

func (s *slowMoveDial) Name() string { return "slow-move-dial" }
func (s *slowMoveDial) PostDial(PreSession) *Rerror {
	if s.dials.Add(1) > 1 {
		<-time.After(600 * time.Millisecond)
	}
	return nil
}

// A goaway racing a broken connection: the old server closes with a short
// drain while the client's move is in its slow PostDial hooks, so the old
// connection breaks during the move. The session ends up on exactly one
// connection, the new server has exactly one session, and both Closes
// return at once (issue 21, defect 2: both paths installed a connection,
// and the orphan hung Peer.Close).
func TestGoawayRacingALostConnectionLeavesOneConnection(t *testing.T) {
	for run := range 3 {
		views := shareListener(t, listenLoopback(t), 2)
		oldSrv, newSrv := NewPeer(nil), NewPeer(nil)
		for _, p := range []*Peer{oldSrv, newSrv} {
			p.PullRouter.Reg(new(Home))
		}
		oldServed, newServed := make(chan error, 1), make(chan error, 1)
		go func() { oldServed <- oldSrv.Serve(views[0]) }()
		slow := &slowMoveDial{}
		cli := NewPeer(&PeerConfig{RedialTimes: 3}, slow)
		sess, rerr := cli.Dial(views[0].Addr().String())
		if rerr != nil {
			t.Fatal(rerr)
		}
		// The shared listener hands the first connection to whichever
		// server accepts first: let it be the old one.
		waitFor(t, "the old server's session", func() bool { return oldSrv.CountSession() == 1 })
		go func() { newServed <- newSrv.Serve(views[1]) }()
		if err := oldSrv.close(50*time.Millisecond, time.Second); err != nil {
			t.Fatal(err)
		}
		<-oldServed
		s := sess.(*session)
		waitFor(t, "the move to end", func() bool {
			s.lc.mu.Lock()
			defer s.lc.mu.Unlock()
			return !s.lc.dialing && s.state() == stateActive && slow.dials.Load() >= 2
		})
		var sum int
		if rerr := sess.Pull("/home/test_add", [2]int{run, 1}, &sum).Rerror(); rerr != nil || sum != run+1 {
			t.Fatalf("run %d: pull after the move: %d, %v", run, sum, rerr)
		}
		s.lc.mu.Lock()
		live := len(s.lc.live)
		s.lc.mu.Unlock()
		if live != 1 || newSrv.CountSession() != 1 {
			t.Fatalf("run %d: %d live client connections and %d server sessions, want 1 and 1", run, live, newSrv.CountSession())
		}
		if !closePeerWithin(t, cli, 3*time.Second) || !closePeerWithin(t, newSrv, 5*time.Second) {
			t.Fatalf("run %d: a Close hung", run)
		}
		<-newServed
	}
}
