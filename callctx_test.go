package tp

import (
	"context"
	"errors"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// ctxSeen is what the Watch controller's handlers saw of their context.
type ctxSeen struct {
	deadline    time.Time
	hasDeadline bool
	at          time.Time // when the handler looked
	err         error     // the context's Err when the handler returned
}

var (
	watchSeen  = make(chan ctxSeen, 16)
	watchRan   atomic.Int64
	nestedSeen = make(chan ctxSeen, 16)
)

// Watch is a pull controller reporting what its handlers see of Context.
type Watch struct {
	PullCtx
}

func (w *Watch) report(ch chan ctxSeen) ctxSeen {
	d, ok := w.Context().Deadline()
	seen := ctxSeen{deadline: d, hasDeadline: ok, at: time.Now()}
	ch <- seen
	return seen
}

// Deadline reports the handler's deadline.
func (w *Watch) Deadline(*int) (int, *Rerror) {
	watchRan.Add(1)
	w.report(watchSeen)
	return 1, nil
}

// Block reports that it started, waits for its context to end and reports
// how it ended.
func (w *Watch) Block(*int) (int, *Rerror) {
	watchRan.Add(1)
	seen := w.report(watchSeen) // started
	<-w.Context().Done()
	seen.err = w.Context().Err()
	watchSeen <- seen
	return 0, nil
}

// Nest pulls /watch/inner on the session it came from, with its Context.
func (w *Watch) Nest(*int) (int, *Rerror) {
	var n int
	if rerr := w.Session().Pull("/watch/inner", 0, &n, socket.WithContext(w.Context())).Rerror(); rerr != nil {
		return 0, rerr
	}
	return n, nil
}

// Inner reports its deadline on nestedSeen.
func (w *Watch) Inner(*int) (int, *Rerror) {
	w.report(nestedSeen)
	return 2, nil
}

func regWatch(srv, cli *Peer) {
	srv.PullRouter.Reg(new(Watch))
	cli.PullRouter.Reg(new(Watch))
}

func TestDeadlineReachesTheHandler(t *testing.T) {
	p := newPair(t, nil, nil, regWatch)
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"two seconds", 2 * time.Second},
		{"one minute", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			want, _ := ctx.Deadline()
			if rerr := p.cliSess.Pull("/watch/deadline", 0, new(int), socket.WithContext(ctx)).Rerror(); rerr != nil {
				t.Fatal(rerr)
			}
			seen := <-watchSeen
			if !seen.hasDeadline {
				t.Fatal("the handler's context has no deadline")
			}
			// The deadline travels as the time left: it can only move
			// by the time the pull took to arrive.
			if d := seen.deadline.Sub(want); d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Fatalf("the handler's deadline is %v off the caller's", d)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		if rerr := p.cliSess.Pull("/watch/deadline", 0, new(int)).Rerror(); rerr != nil {
			t.Fatal(rerr)
		}
		if seen := <-watchSeen; seen.hasDeadline {
			t.Fatal("a pull without a deadline gave its handler one")
		}
	})
}

// A v3.0-style peer, which sends no deadline, gives the handler a context
// without one.
func TestV3PullHasNoDeadline(t *testing.T) {
	p := newPair(t, nil, nil, regWatch)
	_, sock := rawClient(t, p.addr)
	if err := sock.WritePacket(socket.NewPacket(socket.WithSeq(1), socket.WithPtype(TypePull),
		socket.WithUri("/watch/deadline"), socket.WithBodyCodec('j'), socket.WithBody(0))); err != nil {
		t.Fatal(err)
	}
	if seen := <-watchSeen; seen.hasDeadline {
		t.Fatal("the handler's context has a deadline")
	}
}

func TestNestedPullInheritsTheDeadline(t *testing.T) {
	p := newPair(t, nil, nil, regWatch)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	var n int
	if rerr := p.cliSess.Pull("/watch/nest", 0, &n, socket.WithContext(ctx)).Rerror(); rerr != nil || n != 2 {
		t.Fatalf("nested pull: %d, %v", n, rerr)
	}
	seen := <-nestedSeen
	if !seen.hasDeadline {
		t.Fatal("the nested pull's handler has no deadline")
	}
	if d := seen.deadline.Sub(want); d < -100*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("the nested handler's deadline is %v off the first caller's", d)
	}
}

// A pull whose deadline has passed when its handler would run is answered
// CodeHandleTimeout, and the handler does not run.
func TestExpiredPullIsNotRun(t *testing.T) {
	p := newPair(t, nil, nil, regWatch)
	before := watchRan.Load()
	cmd := p.cliSess.Pull("/watch/deadline", 0, new(int), socket.WithSetMeta(MetaTimeoutKey, "0"))
	if cmd.Rerror() == nil || cmd.Rerror().Code != CodeHandleTimeout {
		t.Fatalf("pull ended with %v, want CodeHandleTimeout", cmd.Rerror())
	}
	if watchRan.Load() != before {
		t.Fatal("the handler ran")
	}
}

func TestHandlerContextEnds(t *testing.T) {
	cancelPull := func(t *testing.T, p *pair, cancel context.CancelFunc) { cancel() }
	tests := []struct {
		name  string
		first bool // the blocked pull is the session's first
		end   func(t *testing.T, p *pair, cancel context.CancelFunc)
	}{
		{"the caller cancels", false, cancelPull},
		{"the caller cancels the session's first pull", true, cancelPull},
		{"the caller's session closes", false, func(t *testing.T, p *pair, cancel context.CancelFunc) { p.cliSess.Close() }},
		{"the handler's session closes", false, func(t *testing.T, p *pair, cancel context.CancelFunc) { p.srvSess.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, nil, nil, regWatch)
			if !tt.first {
				if rerr := p.cliSess.Pull("/watch/deadline", 0, new(int)).Rerror(); rerr != nil {
					t.Fatal(rerr)
				}
				<-watchSeen
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan *PullCmd, 1)
			p.cliSess.AsyncPull("/watch/block", 0, new(int), done, socket.WithContext(ctx))
			<-watchSeen // the handler is waiting
			tt.end(t, p, cancel)
			select {
			case seen := <-watchSeen:
				if !errors.Is(seen.err, context.Canceled) {
					t.Fatalf("the handler's context ended with %v", seen.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the handler's context was not cancelled")
			}
			<-done
		})
	}
}

// Close cancels the contexts of the handlers it gives up waiting for.
func TestCloseCancelsHandlersItGivesUpOn(t *testing.T) {
	p := newPair(t, &PeerConfig{CloseTimeout: 100 * time.Millisecond}, nil, regWatch)
	done := make(chan *PullCmd, 1)
	p.cliSess.AsyncPull("/watch/block", 0, new(int), done)
	<-watchSeen
	go p.srv.Close()
	select {
	case seen := <-watchSeen:
		if !errors.Is(seen.err, context.Canceled) {
			t.Fatalf("the handler's context ended with %v", seen.err)
		}
	case <-time.After(DefaultCloseDrain + 5*time.Second):
		t.Fatal("the handler's context was not cancelled")
	}
	<-done
}

func TestErrorsUnwrap(t *testing.T) {
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		regWatch(srv, cli)
		srv.PullRouter.Reg(new(Home))
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		// A handler that ignores its context: the caller's own deadline
		// ends the pull.
		err := p.cliSess.Pull("/home/sleep", 300, new(int), socket.WithContext(ctx)).Err()
		var rerr *Rerror
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &rerr) || !rerr.Timeout() || rerr.Code != CodeHandleTimeout {
			t.Fatalf("err = %v: want a timeout Rerror that is context.DeadlineExceeded", err)
		}
		if !errors.Is(err, NewRerror(CodeHandleTimeout, "", "")) {
			t.Fatal("errors.Is by code fails")
		}
	})
	t.Run("success", func(t *testing.T) {
		cmd := p.cliSess.Pull("/watch/deadline", 0, new(int))
		<-watchSeen
		if err := cmd.Err(); err != nil {
			t.Fatalf("Err() = %v on success", err)
		}
	})
	t.Run("remote error", func(t *testing.T) {
		err := p.cliSess.Pull("/watch/missing", 0, new(int)).Err()
		var rerr *Rerror
		if !errors.As(err, &rerr) || rerr.Code != CodeNotFound || rerr.Timeout() || errors.Unwrap(err) != nil {
			t.Fatalf("err = %v, want a 404 with nothing to unwrap", err)
		}
	})
	t.Run("dial", func(t *testing.T) {
		lis := listenLoopback(t)
		addr := lis.Addr().String()
		lis.Close()
		_, rerr := p.cli.Dial(addr)
		var opErr *net.OpError
		if rerr == nil || rerr.Code != CodeDialFailed || !errors.As(rerr, &opErr) || rerr.Timeout() {
			t.Fatalf("dial error %v: want CodeDialFailed unwrapping to a *net.OpError", rerr)
		}
	})
	t.Run("write", func(t *testing.T) {
		cli := NewPeer(&PeerConfig{DefaultWriteTimeout: 50 * time.Millisecond})
		defer cli.Close()
		sess, rerr := cli.Dial(silentServer(t))
		if rerr != nil {
			t.Fatal(rerr)
		}
		big := make([]byte, 4<<20)
		for i := 0; i < 16; i++ {
			err := sess.Push("/x", big).ToError()
			if err == nil {
				continue
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !err.(*Rerror).Timeout() {
				t.Fatalf("err = %v, want a write timeout unwrapping to a net.Error", err)
			}
			return
		}
		t.Fatal("no push failed")
	})
}

func TestCall(t *testing.T) {
	p := newPair(t, nil, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Home)) })
	ctx := context.Background()
	sum, err := Call[int](ctx, p.cliSess, "/home/test_add", [2]int{2, 3})
	if err != nil || sum != 5 {
		t.Fatalf("Call = %d, %v", sum, err)
	}
	echo, err := Call[string](ctx, p.cliSess, "/home/echo", "hi", socket.WithSetMeta("k", "v"))
	if err != nil || echo != "hi" {
		t.Fatalf("Call = %q, %v", echo, err)
	}
	_, err = Call[int](ctx, p.cliSess, "/home/missing", 1)
	if !errors.Is(err, NewRerror(CodeNotFound, "", "")) {
		t.Fatalf("Call of a missing route: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = Call[int](short, p.cliSess, "/home/sleep", 300)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call past its deadline: %v", err)
	}
}

func TestTimeoutMetaIsClamped(t *testing.T) {
	const longest = time.Duration(math.MaxInt64 / int64(time.Microsecond) * int64(time.Microsecond))
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"1500000", 1500 * time.Millisecond, true},
		{"0", 0, true},
		{"12a", 0, false},
		{"-5", 0, false},
		{"9223372036854775", longest, true},                  // the largest that fits
		{"9999999999999999", longest, true},                  // 16 digits: 317 years
		{"100000000000000000000000000000000", longest, true}, // 33 digits
		{"99999999999999999999x", 0, false},                  // saturated, then a bad digit
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			p := socket.NewPacket()
			if tt.value != "" {
				p.Meta().Set(MetaTimeoutKey, tt.value)
			}
			got, ok := timeoutOf(p)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("timeoutOf(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// A hostile caller's huge X-Tp-Timeout is a deadline far in the future,
// not one in the past: the pull is handled.
func TestHugeTimeoutMetaIsHandled(t *testing.T) {
	p := newPair(t, nil, nil, regWatch)
	for _, v := range []string{"9999999999999999", "99999999999999999999999999"} {
		cmd := p.cliSess.Pull("/watch/deadline", 0, new(int), socket.WithSetMeta(MetaTimeoutKey, v))
		if cmd.Rerror() != nil {
			t.Fatalf("X-Tp-Timeout %s: %v", v, cmd.Rerror())
		}
		seen := <-watchSeen
		if !seen.hasDeadline || seen.deadline.Before(time.Now().AddDate(250, 0, 0)) {
			t.Fatalf("X-Tp-Timeout %s: the handler's deadline is %v", v, seen.deadline)
		}
	}
}

// refuseWithContext asks for the handler context in a header hook, then
// refuses the pull.
type refuseWithContext struct{}

func (refuseWithContext) Name() string { return "refuse-with-context" }
func (refuseWithContext) PostReadPullHeader(c ReadCtx) *Rerror {
	_ = c.(interface{ Context() context.Context }).Context()
	return NewRerror(CodePtypeNotAllowed, "refused", "")
}

// A context made by a hook of a pull that a plugin then refuses is not
// left in the session's cancel table.
func TestRefusedPullLeavesNoContext(t *testing.T) {
	p := newPair(t, nil, nil, func(srv, _ *Peer) {
		srv.PluginContainer().Add(refuseWithContext{})
		srv.PullRouter.Reg(new(Watch))
	})
	for range 100 {
		if rerr := p.cliSess.Pull("/watch/deadline", 0, new(int)).Rerror(); rerr == nil || rerr.Code != CodePtypeNotAllowed {
			t.Fatalf("pull ended with %v, want CodePtypeNotAllowed", rerr)
		}
	}
	st := p.srvSess.(*session).callState()
	tracked := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.byseq)
	}
	// The last reply may arrive before its context is put back.
	waitFor(t, "no tracked handler context", func() bool { return tracked() == 0 })
}

// A teleport v3.0 peer gets no notice it cannot take: the first pull only
// carries the capability marker in its metadata, and cancelling it sends
// nothing, since the peer never said it understands cancels.
func TestCancelSendsV3Nothing(t *testing.T) {
	sess, v3 := dialRaw(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *PullCmd, 1)
	sess.AsyncPull("/v3/slow", 0, new(int), done, socket.WithContext(ctx))
	pull := socket.NewPacket()
	if err := v3.ReadPacket(pull); err != nil {
		t.Fatal(err)
	}
	if got := string(pull.Meta().Peek(metaCapsKey)); got != capsAll {
		t.Fatalf("the first pull's %s is %q, want %q", metaCapsKey, got, capsAll)
	}
	cancel()
	<-done
	_ = v3.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	next := socket.NewPacket()
	if err := v3.ReadPacket(next); err == nil {
		t.Fatalf("the v3.0 peer got %s (seq %d) after the cancel", next.Uri(), next.Seq())
	}
}
