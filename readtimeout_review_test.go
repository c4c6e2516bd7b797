package tp

import (
	"runtime"
	"testing"
	"time"
)

// TestReadTimeoutRemovedWhileParked: a session parks with a read timeout,
// which is then removed (SetReadTimeout(0)); the timer of that earlier
// wait must not close the session once it parks again without one.
func TestReadTimeoutRemovedWhileParked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	p := newPair(t, nil, nil, regHome)
	s := p.srvSess.(*session)
	parked := func() bool { return s.sock.Load().parkState.Load() == readParked }
	var sum int
	p.srvSess.SetReadTimeout(400 * time.Millisecond)
	if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "the server session to park with its timeout", parked)
	p.srvSess.SetReadTimeout(0)
	start := time.Now()
	if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "the server session to park without a timeout", parked)
	// Well past the deadline of the earlier wait.
	waitFor(t, "a second", func() bool { return time.Since(start) > time.Second || s.closed.Load() })
	if s.closed.Load() {
		t.Fatal("a read timeout removed before the session parked closed it")
	}
}
