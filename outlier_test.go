package tp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/faultnet"
	"github.com/teleport-go/teleport/socket"
)

// An instance that accepts connections and never answers cannot hold a
// call made without a context: the try ends at TryTimeout (issue 21,
// defect 13).
func TestBalancerTryTimeout(t *testing.T) {
	lis := startSilent(t)
	b := newTestBalancer(t, StaticAddrs(lis.Addr().String()), &BalancerConfig{TryTimeout: 200 * time.Millisecond, EjectAfter: -1})
	waitReady(t, b, 1)
	start := time.Now()
	done := make(chan *PullCmd, 1)
	go func() { done <- b.Pull("/node/name", nil, new(string)) }()
	select {
	case cmd := <-done:
		if rerr := cmd.Rerror(); rerr == nil || rerr.Code != CodeHandleTimeout {
			t.Fatalf("pull ended with %v, want CodeHandleTimeout", rerr)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("the try ended after %v, TryTimeout 200ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a pull to a silent instance, without a context, still waits")
	}
	b.Close()
}

// startSilent listens for connections it reads everything from and
// answers nothing on, as an instance whose handlers hang; they are closed
// at the test's end.
func startSilent(t *testing.T) net.Listener {
	lis := listenLoopback(t)
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { // reads everything, answers nothing
				defer conns.Done()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { lis.Close(); conns.Wait() })
	return lis
}

// TestBalancerRetriesAnIdempotentTryThatTimedOut: a try that ran out of
// TryTimeout on a silent instance is sent to another when its route is
// idempotent, and the call succeeds (found by cmd/faults: with a process
// frozen or partitioned, such calls failed with 408).
func TestBalancerRetriesAnIdempotentTryThatTimedOut(t *testing.T) {
	silent := startSilent(t)
	good := startInstance(t, "127.0.0.1:0")
	b := newTestBalancer(t, StaticAddrs(silent.Addr().String(), good.addr), &BalancerConfig{
		Policy: RoundRobin, Idempotent: []string{"/node/"}, TryTimeout: 200 * time.Millisecond,
		EjectAfter: -1, EjectSilence: -1,
	})
	waitReady(t, b, 2)
	for i := range 4 {
		var name string
		if rerr := b.Pull("/node/name", nil, &name).Rerror(); rerr != nil {
			t.Fatalf("call %d: %v", i, rerr)
		}
	}
	if st := b.Stats(); st.Retries == 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: want retries and no failure", st)
	}
	// Not idempotent: the try's 408 is the call's.
	var name string
	for i := range 2 {
		if rerr := b.Pull("/other/name", nil, &name).Rerror(); rerr != nil && rerr.Code == CodeHandleTimeout {
			return
		} else if rerr == nil {
			t.Fatalf("call %d to /other/name answered; the instances serve no such route", i)
		}
	}
	t.Fatal("no call to a route that is not idempotent timed out on the silent instance")
}

// freezable is an instance whose connections can all be stalled at once,
// as a process stopped with SIGSTOP whose kernel still holds them.
type freezable struct {
	*instance
	mu    sync.Mutex // guards conns
	conns []*faultnet.Conn
}

func startFreezable(t *testing.T) *freezable {
	raw := listenLoopback(t)
	accepted := make(chan *faultnet.Conn)
	f := &freezable{}
	go func() {
		for c := range accepted {
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
		}
	}()
	fl := &faultnet.Listener{Listener: raw, Accepted: accepted}
	in := &instance{peer: NewPeer(nil), lis: &trackListener{Listener: fl}, addr: raw.Addr().String(), served: make(chan error, 1)}
	in.peer.PullRouter.Reg(new(Node))
	go func() { in.served <- in.peer.Serve(in.lis); close(accepted) }()
	t.Cleanup(func() { f.thaw(); in.stop() })
	f.instance = in
	return f
}

func (f *freezable) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.StallReads()
		c.StallWrites()
	}
}

func (f *freezable) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Release()
	}
}

// A frozen instance under load costs the calls in flight to it when it
// froze, and nothing more: it is ejected for its silence before those
// calls time out, gets no call while ejected, and comes back once a probe
// is answered after it thaws (issue 21, defect 13: it kept getting calls
// that all failed at their deadlines).
func TestBalancerEjectsAFrozenInstance(t *testing.T) {
	frozen, healthy := startFreezable(t), startInstance(t, "127.0.0.1:0")
	b := newTestBalancer(t, StaticAddrs(frozen.addr, healthy.addr), &BalancerConfig{
		EjectSilence: 200 * time.Millisecond, EjectMin: 300 * time.Millisecond, MaxAttempts: 1,
	})
	waitReady(t, b, 2)
	l := startLoad(8, func() *Rerror {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return b.Pull("/node/name", nil, new(string), socket.WithContext(ctx)).Rerror()
	})
	defer l.stop()
	ok, failed, firstErr := &l.ok, &l.failed, &l.firstErr
	waitFor(t, "calls on both instances", func() bool { return statsOf(b, frozen.addr).Calls > 50 && statsOf(b, healthy.addr).Calls > 50 })
	inFlight := statsOf(b, frozen.addr).Pending
	frozen.freeze()
	waitFor(t, "the frozen instance's ejection", func() bool { return statsOf(b, frozen.addr).Ejected })
	// Long enough for every call sent to it to meet its deadline.
	<-time.After(1500 * time.Millisecond)
	lost := failed.Load()
	t.Logf("%d calls in flight to the instance when it froze; %d calls failed; %d succeeded", inFlight, lost, ok.Load())
	if lost > inFlight+2 {
		t.Errorf("%d calls failed, %d were in flight to the frozen instance: more kept going to it (first: %v)", lost, inFlight, firstErr.Load())
	}
	if rerr := firstErr.Load(); rerr != nil && rerr.Code != CodeHandleTimeout {
		t.Errorf("a call failed with %v, want only deadlines", rerr)
	}
	frozen.thaw()
	before := statsOf(b, frozen.addr).Calls
	waitFor(t, "the thawed instance back in rotation", func() bool {
		st := statsOf(b, frozen.addr)
		return !st.Ejected && st.Calls > before+10
	})
	l.stop()
	if st := statsOf(b, frozen.addr); st.Ejections == 0 {
		t.Fatalf("stats show no ejection: %+v", st)
	}
}

// Ejection and probes follow the outcome of tries: a streak of tries
// without an answer ejects, an answer ends the streak, and a caller's own
// cancel teaches nothing.
func TestBalancerObserve(t *testing.T) {
	b := &Balancer{ctx: context.Background()}
	b.cfg.EjectAfter = 3
	timeout := rerrHandleTimeout.wrap(context.DeadlineExceeded, "")
	cancelled := rerrHandleTimeout.wrap(context.Canceled, "")
	tests := []struct {
		name    string
		tries   []*Rerror
		sent    bool
		remote  bool
		ejected bool
	}{
		{"three timeouts", []*Rerror{timeout, timeout, timeout}, true, false, true},
		{"two timeouts, an answer, two timeouts", []*Rerror{timeout, timeout, nil, timeout, timeout}, true, false, false},
		{"three lost connections", []*Rerror{rerrConnClosed, rerrWriteFailed, rerrConnClosed}, true, false, true},
		{"three unsent", []*Rerror{rerrConnClosed, rerrConnClosed, rerrConnClosed}, false, false, false},
		{"three cancels", []*Rerror{cancelled, cancelled, cancelled}, true, false, false},
		{"three error replies", []*Rerror{rerrNotFound, rerrNotFound, rerrNotFound}, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndpoint(b, &Instance{Addr: "x"})
			e.stop() // the probe goroutine, if started, ends at once
			for _, rerr := range tt.tries {
				e.observe(rerr, tt.sent, tt.remote && rerr != nil, 0)
			}
			if got := e.ejected.Load(); got != tt.ejected {
				t.Fatalf("ejected %v, want %v", got, tt.ejected)
			}
		})
	}
	b.wg.Wait()
}
