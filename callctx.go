package tp

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// MetaTimeoutKey is the pull metadata key carrying the caller's deadline:
// the time left, in whole microseconds, when the pull was sent. It is
// relative, so the two clocks need not agree. A teleport v3.0 peer ignores
// it and sends none.
const MetaTimeoutKey = "X-Tp-Timeout"

// setTimeoutMeta records in out the time left before deadline.
func setTimeoutMeta(out *socket.Packet, deadline time.Time) {
	left := time.Until(deadline).Microseconds()
	if left <= 0 {
		return // the pull ends here before it is sent
	}
	var buf [20]byte
	out.Meta().SetBytes([]byte(MetaTimeoutKey), strconv.AppendInt(buf[:0], left, 10))
}

// maxTimeoutMicros is the longest time left timeoutOf gives, in
// microseconds: about 292 years, the most a time.Duration holds.
const maxTimeoutMicros = int64(math.MaxInt64 / int64(time.Microsecond))

// timeoutOf reads MetaTimeoutKey: the time left, false when absent or
// malformed (a peer's mistake costs it the deadline, not the call). A value
// too large for a time.Duration is clamped to the largest one, so that no
// count of digits can wrap it into a deadline in the past.
func timeoutOf(in *socket.Packet) (time.Duration, bool) {
	v := in.Meta().Peek(MetaTimeoutKey)
	if len(v) == 0 {
		return 0, false
	}
	var us int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if us > (maxTimeoutMicros-int64(c-'0'))/10 {
			us = maxTimeoutMicros // saturated: read on for a bad digit
			continue
		}
		us = us*10 + int64(c-'0')
	}
	return time.Duration(us) * time.Microsecond, true
}

// callState is what a session's handlers' contexts need: the session's
// context, their parent, and the table of their cancel functions.
type callState struct {
	// mu guards the fields below.
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	cancelTable
}

// cancelTable tracks the contexts handlers asked for, by the seq of their
// pull, so that a cancel notice from the caller can reach them. Its user
// holds callState.mu.
type cancelTable struct {
	byseq map[uint64]context.CancelFunc
	// recent are the last seqs a cancel notice named, for a handler that
	// asks for its context after the notice came.
	recent [cancelledRing]uint64
	next   int
}

// callState returns the session's callState, made on first use.
func (s *session) callState() *callState {
	if st := s.calls.Load(); st != nil {
		return st
	}
	s.calls.CompareAndSwap(nil, new(callState))
	return s.calls.Load()
}

// add registers cancel for the pull seq, cancelling at once when a notice
// for it came first.
func (t *callState) add(seq uint64, cancel context.CancelFunc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancelledLocked(seq) {
		cancel()
		return
	}
	if t.byseq == nil {
		t.byseq = make(map[uint64]context.CancelFunc)
	}
	t.byseq[seq] = cancel
}

func (t *callState) remove(seq uint64) {
	t.mu.Lock()
	delete(t.byseq, seq)
	t.mu.Unlock()
}

// cancelled reports whether a cancel notice named seq.
func (t *callState) cancelled(seq uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancelledLocked(seq)
}

func (t *callState) cancelledLocked(seq uint64) bool {
	for _, s := range t.recent {
		if s == seq && seq != 0 {
			return true
		}
	}
	return false
}

// notice cancels the handler of the pull seq, or remembers the seq for a
// handler yet to ask for its context.
func (t *callState) notice(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recent[t.next] = seq
	t.next = (t.next + 1) % cancelledRing
	if cancel := t.byseq[seq]; cancel != nil {
		cancel()
		delete(t.byseq, seq)
	}
}

// context returns the session's context, the parent of its handlers':
// cancelled when the session closes or its peer gives up on its handlers.
// It is made on first use, since most sessions' handlers never ask.
func (s *session) context() context.Context {
	st := s.callState()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ctx == nil {
		st.ctx, st.cancel = context.WithCancel(s.peer.ctx)
		if s.ctxDone.Load() {
			st.cancel()
		}
	}
	return st.ctx
}

// cancelContext cancels the session's context, now or once made.
func (s *session) cancelContext() {
	s.ctxDone.Store(true)
	if st := s.calls.Load(); st != nil {
		st.mu.Lock()
		if st.cancel != nil {
			st.cancel()
		}
		st.mu.Unlock()
	}
}

// Context returns the context of the message being handled. For a pull it
// carries the caller's deadline (when the caller set one with
// socket.WithContext and is a peer of this package), and is cancelled when
// the caller cancels its pull. Every handler's context is cancelled when
// its session closes, when its peer's Close or Shutdown gives up waiting
// for handlers, and when the handler returns. Pass it to the calls the
// handler makes, nested pulls included, so they end with it.
func (c *handlerCtx) Context() context.Context {
	if c.ctx != nil {
		return c.ctx
	}
	parent := c.sess.context()
	if c.deadline.IsZero() {
		c.ctx, c.cancelCtx = context.WithCancel(parent)
	} else {
		c.ctx, c.cancelCtx = context.WithDeadline(parent, c.deadline)
	}
	if c.input.Ptype() == TypePull {
		c.sess.callState().add(c.input.Seq(), c.cancelCtx)
		c.registered = true
	}
	return c.ctx
}

// endContext cancels the handler's context once it has returned, and
// takes it out of the session's cancel table; a second call does nothing.
func (c *handlerCtx) endContext() {
	if c.cancelCtx == nil {
		return
	}
	if c.registered {
		c.sess.callState().remove(c.input.Seq())
		c.registered = false
	}
	c.cancelCtx()
	c.cancelCtx = nil
}
