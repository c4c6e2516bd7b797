package tp

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedListener lets two peers accept from one listening socket, as an
// old and a new process do during a reboot: closing one view stops its
// Accept without closing the socket.
type sharedListener struct {
	net.Listener
	conns <-chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func shareListener(t *testing.T, lis net.Listener, n int) []net.Listener {
	conns := make(chan net.Conn)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() { lis.Close() })
	views := make([]net.Listener, n)
	for i := range views {
		views[i] = &sharedListener{Listener: lis, conns: conns, done: make(chan struct{})}
	}
	return views
}

func (s *sharedListener) Accept() (net.Conn, error) {
	select {
	case c, ok := <-s.conns:
		if !ok {
			return nil, net.ErrClosed
		}
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *sharedListener) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// A client that can redial moves to the new server when the old one
// closes, and no pull fails: the goaway makes the client stop sending on
// the old connection while the old server finishes what it got.
func TestGoawayMovesClientWithoutErrors(t *testing.T) {
	views := shareListener(t, listenLoopback(t), 2)
	oldSrv, newSrv := NewPeer(nil), NewPeer(nil)
	for _, p := range []*Peer{oldSrv, newSrv} {
		p.PullRouter.Reg(new(Home))
	}
	oldServed := make(chan error, 1)
	go func() { oldServed <- oldSrv.Serve(views[0]) }()
	cli := NewPeer(&PeerConfig{RedialTimes: 3})
	defer cli.Close()
	sess, rerr := cli.Dial(views[0].Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	newServed := make(chan error, 1)
	go func() { newServed <- newSrv.Serve(views[1]) }()

	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[Rerror]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var sum int
				if rerr := sess.Pull("/home/test_add", [2]int{g, i}, &sum).Rerror(); rerr != nil || sum != g+i {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, rerr)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitFor(t, "pulls to flow", func() bool { return ok.Load() > 100 })
	if err := oldSrv.Close(); err != nil {
		t.Fatal(err)
	}
	<-oldServed
	before := ok.Load()
	waitFor(t, "pulls to flow through the new server", func() bool { return ok.Load() > before+100 })
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d pulls failed across the close; first: %v", n, n+ok.Load(), firstErr.Load())
	}
	if !sess.IsOk() || newSrv.CountSession() != 1 || cli.CountSession() != 1 {
		t.Fatalf("after the move: IsOk %v, new server sessions %d, client sessions %d", sess.IsOk(), newSrv.CountSession(), cli.CountSession())
	}
	cli.Close()
	newSrv.Close()
	<-newServed
}

// A peer that cannot move away stops pulling at the goaway and closes once
// its pulls in flight have their replies.
func TestGoawayDrainsClientWithoutRedial(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	done := make(chan *PullCmd, 1)
	p.cliSess.AsyncPull("/home/sleep", 100, new(int), done)
	waitFor(t, "the pull to reach its handler", func() bool { return p.srv.handling.Load() == 1 })
	start := time.Now()
	if err := p.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if cmd := <-done; cmd.Rerror() != nil {
		t.Fatalf("pull in flight at the goaway: %v", cmd.Rerror())
	}
	if d := time.Since(start); d > DefaultCloseDrain {
		t.Fatalf("Close took %v: the client did not leave after its pull", d)
	}
	if p.cliSess.IsOk() {
		t.Fatal("the client session is still open")
	}
}
