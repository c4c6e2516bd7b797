//go:build linux

package netpoll

import (
	"syscall"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/loopback"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func waitFired(t *testing.T, fired <-chan struct{}) {
	t.Helper()
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not fire")
	}
}

// notFired checks that nothing fires while a write on another armed
// connection does: events are delivered in order of readiness, so a
// round trip through the poller shows that the first one had its chance.
func notFired(t *testing.T, p *Poller, fired <-chan struct{}) {
	t.Helper()
	a, b := loopback.TCPPair(t)
	probe := make(chan struct{}, 1)
	var w Watch
	if err := p.Arm(&w, rawConn(t, b), func() { probe <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	waitFired(t, probe)
	p.Forget(&w)
	select {
	case <-fired:
		t.Fatal("the watch fired when it should not have")
	default:
	}
}

func TestArmFiresOncePerArm(t *testing.T) {
	p := newPoller(t)
	a, b := loopback.TCPPair(t)
	fired := make(chan struct{}, 4)
	fire := func() { fired <- struct{}{} }
	var w Watch
	rc := rawConn(t, b)
	for round := range 3 {
		if err := p.Arm(&w, rc, fire); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if _, err := a.Write([]byte{byte(round)}); err != nil {
			t.Fatal(err)
		}
		waitFired(t, fired)
		// Unread bytes do not fire again until the watch is re-armed.
		notFired(t, p, fired)
		var buf [8]byte
		if n, err := b.Read(buf[:]); err != nil || n != 1 {
			t.Fatalf("read %d, %v", n, err)
		}
	}
	p.Forget(&w)
}

func TestArmFiresOnPeerClose(t *testing.T) {
	p := newPoller(t)
	a, b := loopback.TCPPair(t)
	fired := make(chan struct{}, 1)
	var w Watch
	if err := p.Arm(&w, rawConn(t, b), func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	a.Close()
	waitFired(t, fired)
	p.Forget(&w)
}

func TestClosedConnectionNeverFires(t *testing.T) {
	p := newPoller(t)
	a, b := loopback.TCPPair(t)
	fired := make(chan struct{}, 1)
	rc := rawConn(t, b)
	var w Watch
	if err := p.Arm(&w, rc, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	a.Write([]byte{1})
	notFired(t, p, fired)
	p.Forget(&w)
	if err := p.Arm(&w, rc, func() {}); err != ErrClosed {
		t.Fatalf("Arm on a closed connection: %v, want ErrClosed", err)
	}
	p.Forget(&w)
}

func TestForgottenSlotIgnoresStaleEvents(t *testing.T) {
	p := newPoller(t)
	var w1, w2 Watch
	_, b := loopback.TCPPair(t)
	rc := rawConn(t, b)
	if err := p.Arm(&w1, rc, func() {}); err != nil {
		t.Fatal(err)
	}
	slot, gen := w1.slot, w1.gen
	if err := p.Arm(&w1, rc, func() {}); err != nil {
		t.Fatal(err)
	}
	if p.firing(slot, gen) != nil {
		t.Fatal("an event of an earlier arm fired the watch armed again")
	}
	gen2 := w1.gen
	p.Forget(&w1)
	if p.firing(slot, gen2) != nil {
		t.Fatal("a forgotten watch fired")
	}
	if err := p.Arm(&w2, rc, func() {}); err != nil {
		t.Fatal(err)
	}
	if w2.slot != slot {
		t.Fatalf("slot %d not reused (got %d)", slot, w2.slot)
	}
	if p.firing(slot, gen) != nil {
		t.Fatal("an event of the slot's earlier watch fired its new one")
	}
	if p.firing(w2.slot, w2.gen) == nil {
		t.Fatal("the new watch did not fire")
	}
	for _, bad := range []int32{0, -5, 1000} {
		if p.firing(bad, 1) != nil {
			t.Fatalf("slot %d fired", bad)
		}
	}
}

func TestArmAfterClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, b := loopback.TCPPair(t)
	var w Watch
	if err := p.Arm(&w, rawConn(t, b), func() {}); err != ErrClosed {
		t.Fatalf("Arm after Close: %v, want ErrClosed", err)
	}
}

// TestArmedConnClosedUnderItFires: a connection closed by its owner while
// armed (not through whoever armed it) leaves the epoll set without an
// event; the poller still fires its watch, so that its reader notices.
func TestArmedConnClosedUnderItFires(t *testing.T) {
	p := newPoller(t)
	_, b := loopback.TCPPair(t)
	fired := make(chan struct{}, 2)
	var w Watch
	if err := p.Arm(&w, rawConn(t, b), func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	waitFired(t, fired)
	p.Forget(&w)
}

// TestArmAllocs: re-arming a watch (once per idle spell of a session)
// allocates nothing.
func TestArmAllocs(t *testing.T) {
	p := newPoller(t)
	a, b := loopback.TCPPair(t)
	rc := rawConn(t, b)
	fired := make(chan struct{}, 1)
	fire := func() { fired <- struct{}{} }
	var w Watch
	buf := make([]byte, 1)
	cycle := func() {
		if err := p.Arm(&w, rc, fire); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write(buf); err != nil {
			t.Fatal(err)
		}
		<-fired
		if _, err := b.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	cycle()
	if n := testing.AllocsPerRun(200, cycle); n > 0 {
		t.Errorf("Arm+fire cycle: %v allocations", n)
	}
	p.Forget(&w)
}
