package tp

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestParkedSessionSeesItsConnClosedUnderIt: the connection of a parked
// session is closed by its owner (the conn given to ServeConn), not through
// the session. A goroutine blocked in Read saw that at once; a session
// parked in the poller must see it too, rather than stay open forever
// (closing an fd drops it from epoll without any event).
func TestParkedSessionSeesItsConnClosedUnderIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	srv := NewPeer(nil)
	cli := NewPeer(nil)
	regHome(srv, cli)
	lis := listenLoopback(t)
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cliSess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	conn := <-accepted
	if conn == nil {
		t.Fatal("accept failed")
	}
	srvSess, err := srv.ServeConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		done := make(chan struct{})
		go func() { cli.Close(); srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the peers did not close")
		}
	}()
	var sum int
	if rerr := cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	s := srvSess.(*session)
	waitFor(t, "the server session to park", func() bool { return s.sock.Load().parkState.Load() == readParked })

	conn.Close() // by its owner, not by the session

	waitFor(t, "the server session to see its connection closed", func() bool { return s.closed.Load() })
}
