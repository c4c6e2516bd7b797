package tp

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// maxTries bounds the tries of one call, whatever their outcome, so that
// instances flapping faster than calls end cannot keep a call looping.
const maxTries = 16

// Pull sends a pull to an instance picked by the policy and waits for its
// end, like Session.Pull. When a try fails, the pull is sent again, to
// another instance:
//
//   - at once and whatever its route, when it failed before it was written
//     (CodeConnClosed, CodeDialFailed or CodeServiceUnavailable with
//     PullCmd.Sent false: a session that is draining after a goaway, or
//     was just lost), or when the instance answered CodeServiceUnavailable
//     (it did not run the pull: it is closing or overloaded);
//   - when its route is listed in BalancerConfig.Idempotent, also after it
//     may have run: CodeConnClosed or CodeWriteFailed once written (the
//     instance crashed or the connection broke);
//
// and in the last two cases only while MaxAttempts and the retry budget
// allow. Any other error (the handler's own, CodeHandleTimeout of the
// call's context, CodeNotFound, ...) ends the call. The PullCmd returned
// is that of the last try; its Session tells which instance answered.
func (b *Balancer) Pull(uri string, args interface{}, reply interface{}, setting ...socket.PacketSetting) *PullCmd {
	var last *PullCmd
	c := b.newCall(uri, setting)
	rerr := b.do(&c, func(s *session) (*Rerror, bool, bool, int64) {
		last = s.pullWithin(uri, args, reply, b.cfg.TryTimeout, setting)
		return last.rerr, last.Sent(), last.rerr != nil && last.isRemoteRerror(), last.start + int64(last.cost)
	})
	if last == nil || rerr != last.rerr {
		// No instance to send it to.
		last = &PullCmd{reply: reply, rerr: rerr, start: monoNow()}
		last.output.SetUri(uri)
	}
	return last
}

// AsyncPull is Pull on a goroutine of the pool: the PullCmd of the last try
// is delivered on done (a nil done gets a new buffered channel; a full one
// drops it, logged, as Session.AsyncPull does).
func (b *Balancer) AsyncPull(uri string, args interface{}, reply interface{}, done chan *PullCmd, setting ...socket.PacketSetting) {
	if done == nil {
		done = make(chan *PullCmd, 1)
	}
	AnywayGo(func() {
		cmd := b.Pull(uri, args, reply, setting...)
		if cap(done) == 0 {
			done <- cmd // unbuffered: the caller receives
			return
		}
		select {
		case done <- cmd:
		default:
			Errorf("tp: balancer pull %s: done channel is full, result dropped", uri)
		}
	})
}

// Push sends a push to an instance picked by the policy, like
// Session.Push. A push that could not be written because the session was
// closing (CodeConnClosed) goes to another instance; one whose write
// failed (CodeWriteFailed) may have arrived, and is sent again only when
// its route is idempotent, within MaxAttempts and the budget.
func (b *Balancer) Push(uri string, args interface{}, setting ...socket.PacketSetting) *Rerror {
	c := b.newCall(uri, setting)
	return b.do(&c, func(s *session) (*Rerror, bool, bool, int64) {
		rerr := s.Push(uri, args, setting...)
		// Push reports errSessionClosed, found before writing, as
		// CodeConnClosed, and a failed write as CodeWriteFailed. A
		// push gets no answer.
		return rerr, rerr != nil && rerr.Code != CodeConnClosed, false, 0
	})
}

// do runs the tries of one call, each by try on the session of an instance,
// which reports the error, whether the call was written, whether the error
// is the instance's answer, and when an answer came (monoNow; 0: none, or
// a push). It applies the failover rules (see Pull) and returns the call's
// error.
func (b *Balancer) do(c *callInfo, try func(*session) (rerr *Rerror, sent, remote bool, answeredAt int64)) *Rerror {
	b.calls.Add(1)
	b.budget.deposit()
	e, s, rerr := b.pick(c)
	if rerr != nil {
		return b.fail(rerr)
	}
	sends := 0
	for tries := 1; ; tries++ {
		if e.pending.Add(1) == 1 {
			e.busySince.Store(monoNow())
		}
		rerr, sent, remote, answeredAt := try(s)
		e.observe(rerr, sent, remote, answeredAt) // before release: an ejection beats LeastPending to it
		e.release()
		if rerr == nil || remote {
			e.calls.Add(1)
		}
		if rerr == nil {
			return nil
		}
		kind := b.retryKind(rerr, sent, remote, c.idempotent, b.tryExpired(c, rerr))
		if kind == noRetry || tries >= maxTries {
			return b.fail(rerr)
		}
		c.tried = append(c.tried, s)
		if kind == retryUnsent {
			// It reached no instance: free to go elsewhere, waiting
			// for one (a rebooting instance's new session counts).
			var perr *Rerror
			if e, s, perr = b.pick(c); perr != nil {
				return b.fail(perr)
			}
			b.reroutes.Add(1)
			continue
		}
		if sends++; sends >= b.cfg.MaxAttempts {
			b.denied.Add(1)
			return b.fail(rerr)
		}
		if e, s = b.pickNow(c); e == nil {
			return b.fail(rerr) // no other instance to try
		}
		if !b.budget.withdraw() {
			b.denied.Add(1)
			return b.fail(rerr)
		}
		b.retries.Add(1)
	}
}

// fail counts a call that ends with rerr.
func (b *Balancer) fail(rerr *Rerror) *Rerror {
	if isFailoverCode(rerr) {
		b.failed.Add(1)
	}
	return rerr
}

// isFailoverCode reports the codes of failures a balancer tries to hide.
func isFailoverCode(rerr *Rerror) bool {
	if rerr == nil {
		return false
	}
	switch rerr.Code {
	case CodeConnClosed, CodeWriteFailed, CodeDialFailed, CodeServiceUnavailable:
		return true
	}
	return false
}

// isRemoteRerror reports whether the pull's error is the one its reply
// carried, rather than one found on this side.
func (c *PullCmd) isRemoteRerror() bool {
	if c.inputMeta == nil || c.rerr == nil {
		return false
	}
	r := NewRerrorFromMeta(c.inputMeta)
	return r != nil && r.Code == c.rerr.Code
}

// retryKinds: whether a failed try may be sent again.
const (
	noRetry     = iota
	retryUnsent // it reached no instance: send it elsewhere, free
	retrySent   // it reached one: send it elsewhere within the budget
)

// tryExpired reports whether a try ended with CodeHandleTimeout because
// of TryTimeout while the call's own context goes on: the instance did not
// answer in time, and the call still has time for another.
func (b *Balancer) tryExpired(c *callInfo, rerr *Rerror) bool {
	if rerr.Code != CodeHandleTimeout || b.cfg.TryTimeout <= 0 {
		return false
	}
	c.resolve(b.cfg.HashKey)
	return c.ctx.Err() == nil
}

// retryKind applies the failover rules to a failed try; tryExpired says
// the try ran out of TryTimeout, not the call out of its deadline.
func (b *Balancer) retryKind(rerr *Rerror, sent, remote, idempotent, tryExpired bool) int {
	switch {
	case !sent:
		switch rerr.Code {
		case CodeConnClosed, CodeDialFailed, CodeServiceUnavailable:
			return retryUnsent
		}
	case remote:
		// The instance answered: only "not run" is worth another.
		if rerr.Code == CodeServiceUnavailable {
			return retrySent
		}
	case idempotent:
		switch rerr.Code {
		case CodeConnClosed, CodeWriteFailed:
			return retrySent
		case CodeHandleTimeout:
			if tryExpired {
				return retrySent
			}
		}
	}
	return noRetry
}

// retryBudget is a token bucket of retries: each call deposits ratio,
// each second deposits perSec, each retry withdraws one; it holds at most
// max. Tokens are counted in thousandths, so that deposits are one atomic
// add on the hot path.
type retryBudget struct {
	milli    atomic.Int64
	ratio    int64 // thousandths per call
	perSec   float64
	maxMilli int64

	// mu guards last.
	mu   sync.Mutex
	last time.Time // of the last time-based deposit
}

func (r *retryBudget) init(ratio, perSec float64) {
	r.ratio = int64(math.Max(ratio, 0) * 1000)
	r.perSec = math.Max(perSec, 0)
	r.maxMilli = int64(math.Max(10*r.perSec, 10) * 1000)
	r.milli.Store(r.maxMilli)
	r.last = time.Now()
}

// deposit adds what one call earns.
func (r *retryBudget) deposit() {
	if r.ratio > 0 && r.milli.Load() < r.maxMilli {
		r.milli.Add(r.ratio)
	}
}

// withdraw takes one retry, reporting whether there was one.
func (r *retryBudget) withdraw() bool {
	r.mu.Lock()
	now := time.Now()
	if earned := int64(now.Sub(r.last).Seconds() * r.perSec * 1000); earned > 0 {
		r.milli.Add(earned)
		r.last = now
	}
	r.mu.Unlock()
	for {
		m := r.milli.Load()
		if m > r.maxMilli {
			if !r.milli.CompareAndSwap(m, r.maxMilli) {
				continue
			}
			m = r.maxMilli
		}
		if m < 1000 {
			return false
		}
		if r.milli.CompareAndSwap(m, m-1000) {
			return true
		}
	}
}
