package tp

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func TestReadTimeoutClosesIdleSession(t *testing.T) {
	p := newPair(t, &PeerConfig{DefaultReadTimeout: 50 * time.Millisecond}, nil, regHome)
	if p.srvSess.ReadTimeout() != 50*time.Millisecond {
		t.Fatalf("ReadTimeout = %v", p.srvSess.ReadTimeout())
	}
	// Traffic within the timeout keeps the session open.
	for range 3 {
		time.Sleep(20 * time.Millisecond)
		if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 1}, nil).Rerror(); rerr != nil {
			t.Fatalf("pull within the read timeout: %v", rerr)
		}
	}
	start := time.Now()
	waitFor(t, "the idle session to be closed", func() bool { return !p.srvSess.IsOk() && !p.cliSess.IsOk() })
	if idle := time.Since(start); idle > 2*time.Second {
		t.Fatalf("closed after %v idle", idle)
	}
}

// silentServer accepts connections and never reads from them, so writes to
// it block once the kernel's buffers are full.
func silentServer(t *testing.T) string {
	lis := listenLoopback(t)
	conns := make(chan net.Conn, 4)
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
	t.Cleanup(func() {
		lis.Close()
		for c := range conns {
			c.Close()
		}
	})
	return lis.Addr().String()
}

func TestWriteTimeoutFailsAndCloses(t *testing.T) {
	cli := NewPeer(&PeerConfig{DefaultWriteTimeout: 50 * time.Millisecond})
	defer cli.Close()
	sess, rerr := cli.Dial(silentServer(t))
	if rerr != nil {
		t.Fatal(rerr)
	}
	big := bytes.Repeat([]byte("w"), 1<<20)
	var last *Rerror
	for i := 0; i < 64 && last == nil; i++ {
		done := make(chan *PullCmd, 1)
		sess.AsyncPull("/x", big, nil, done)
		select {
		case cmd := <-done:
			last = cmd.Rerror()
		case <-time.After(20 * time.Millisecond):
			// written, waiting for a reply that never comes
		}
	}
	if last == nil || last.Code != CodeWriteFailed {
		t.Fatalf("pulls into a full connection ended with %v, want CodeWriteFailed", last)
	}
	waitFor(t, "the session to close", func() bool { return !sess.IsOk() && cli.CountSession() == 0 })
}

// dialCounter counts PostDial calls.
type dialCounter struct{ n chan struct{} }

func (d *dialCounter) Name() string { return "dial-counter" }
func (d *dialCounter) PostDial(PreSession) *Rerror {
	d.n <- struct{}{}
	return nil
}

func TestRedialAfterUnexpectedDisconnect(t *testing.T) {
	dials := &dialCounter{n: make(chan struct{}, 10)}
	p := newPair(t, nil, &PeerConfig{RedialTimes: 3}, func(srv, cli *Peer) {
		regHome(srv, cli)
		cli.PluginContainer().Add(dials)
	})
	<-dials.n
	// A pull in flight when the connection breaks ends with CodeConnClosed.
	inFlight := make(chan *PullCmd, 1)
	p.cliSess.AsyncPull("/home/sleep", 300, nil, inFlight)
	waitFor(t, "the pull to reach its handler", func() bool { return p.srv.handling.Load() == 1 })
	p.srvSess.Close()
	if rerr := (<-inFlight).Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("pull in flight at the break: %v", rerr)
	}
	select {
	case <-dials.n: // PostDial ran again for the new connection
	case <-time.After(5 * time.Second):
		t.Fatal("no redial")
	}
	waitFor(t, "the redialed session", func() bool { return p.cliSess.IsOk() })
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{20, 22}, &sum).Rerror(); rerr != nil || sum != 42 {
		t.Fatalf("pull on the redialed session: %v %d", rerr, sum)
	}
	if p.cli.CountSession() != 1 {
		t.Fatalf("client has %d sessions after the redial", p.cli.CountSession())
	}

	// Closed by the user: never redialed.
	p.cliSess.Close()
	select {
	case <-dials.n:
		t.Fatal("a session closed by the user redialed")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRedialGivesUp(t *testing.T) {
	srvHooks := newHookTally("srv")
	cliHooks := newHookTally("cli")
	p := newPair(t, nil, &PeerConfig{RedialTimes: 2}, func(srv, cli *Peer) {
		regHome(srv, cli)
		srv.PluginContainer().Add(srvHooks)
		cli.PluginContainer().Add(cliHooks)
	})
	p.srv.Close() // nothing to redial to
	waitFor(t, "the client to give up", func() bool { return cliHooks.count("PostDisconnect") == 1 })
	if p.cliSess.IsOk() || p.cli.CountSession() != 0 {
		t.Fatal("the session is still open after the redials failed")
	}
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("pull after giving up: %v", rerr)
	}
	if n := cliHooks.count("PostDial"); n != 1 {
		t.Fatalf("PostDial ran %d times, want 1 (no redial succeeded)", n)
	}
}
