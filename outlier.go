package tp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// Outlier ejection: an instance that stops answering (frozen, partitioned,
// overloaded to a standstill) while its kernel still accepts connections
// keeps its session, so the balancer would go on giving it calls that all
// end at their deadlines. Tries that fail for want of an answer are
// counted per instance; BalancerConfig.EjectAfter of them in a row eject
// it, as gRPC's outlier detection and Finagle's failure accrual do. Sooner
// than that, an instance with calls in flight that answers none of them
// for EjectSilence while others answer is ejected too: the calls already
// sent to it are lost to the freeze, but no more join them. An
// ejected instance gets no calls while others can take them, and a probe
// goroutine pulls probeUri on it every ejection period: any answer, even
// an error, proves it alive and returns it to the rotation; no answer
// doubles the period, up to EjectMax. Calls are never used as probes, so
// the freeze costs the calls in flight when it began, and the few that
// make up the streak.

// probeUri is what probes pull: no peer serves it, so a live teleport peer
// (this package's or v3.0) answers at once with CodeNotFound.
const probeUri = "/_tp/probe"

// sweepInterval is how often the balancer looks for silent instances.
const sweepInterval = 50 * time.Millisecond

// sweep, until the balancer closes, ejects silent instances (EjectSilence)
// and ends the tries that outlived TryTimeout, a few times per TryTimeout.
// The try deadline is a field of the pull, checked here, rather than a
// context with a timer per call: a try costs no allocation for it.
func (b *Balancer) sweep() {
	defer b.wg.Done()
	every := sweepInterval
	if b.cfg.TryTimeout > 0 {
		every = min(every, max(b.cfg.TryTimeout/8, 10*time.Millisecond))
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var eps []*endpoint
	var lastExpire int64
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		}
		eps = eps[:0]
		b.mu.Lock()
		for _, e := range b.endpoints {
			eps = append(eps, e)
		}
		b.mu.Unlock()
		now := monoNow()
		if b.cfg.EjectSilence > 0 && b.cfg.EjectAfter > 0 {
			b.ejectSilent(eps, now)
		}
		if b.cfg.TryTimeout > 0 && time.Duration(now-lastExpire) >= b.cfg.TryTimeout/8 {
			lastExpire = now
			for _, e := range eps {
				if s := e.sess.Load(); s != nil {
					s.expirePulls(now)
				}
			}
		}
	}
}

// ejectSilent ejects the instances that have calls in flight and have
// answered none for EjectSilence, when another instance answered within
// it: the others show the silence is the instance's, not the calls'.
func (b *Balancer) ejectSilent(eps []*endpoint, now int64) {
	silence := int64(b.cfg.EjectSilence)
	answering := 0
	for _, e := range eps {
		if now-e.lastAnswer.Load() < silence {
			answering++
		}
	}
	if answering == 0 {
		return
	}
	for _, e := range eps {
		if e.ejected.Load() || e.pending.Load() == 0 {
			continue
		}
		if quiet := max(e.lastAnswer.Load(), e.busySince.Load()); now-quiet >= silence {
			e.eject(fmt.Sprintf("no answer to its calls in flight for %v while others answer", b.cfg.EjectSilence))
		}
	}
}

// expirePulls ends with CodeHandleTimeout the pulls of s whose try
// deadline (PullCmd.expireAt) has passed, and tells the handlers' side.
func (s *session) expirePulls(now int64) {
	for _, cmd := range s.pending.takeIf(func(c *PullCmd) bool { return c.expireAt != 0 && c.expireAt <= now }) {
		sock, seq := cmd.sock, cmd.output.Seq()
		cmd.end(rerrHandleTimeout.withDetail(fmt.Sprintf("pull %s: no answer within BalancerConfig.TryTimeout", clipUri(cmd.output.Uri()))))
		s.sendCancel(seq, sock)
	}
}

// observe counts the outcome of a try on e: an answer ends the streak, a
// try written and left unanswered (timed out, or its connection lost)
// lengthens it, and ejects e once it reaches EjectAfter.
func (e *endpoint) observe(rerr *Rerror, sent, remote bool, answeredAt int64) {
	switch {
	case rerr == nil || remote:
		if answeredAt != 0 {
			e.lastAnswer.Store(answeredAt)
		}
		if e.failStreak.Load() != 0 {
			e.failStreak.Store(0)
		}
	case !sent:
		// It reached no instance: nothing learnt.
	case rerr.Code == CodeHandleTimeout && errors.Is(rerr.cause, context.Canceled):
		// The caller gave up: nothing learnt either.
	case rerr.Code == CodeHandleTimeout || rerr.Code == CodeConnClosed || rerr.Code == CodeWriteFailed:
		if n := e.failStreak.Add(1); e.b.cfg.EjectAfter > 0 && int(n) >= e.b.cfg.EjectAfter {
			e.eject(fmt.Sprintf("%d tries in a row without an answer", n))
		}
	}
}

// eject takes e out of the rotation, for why, and starts its probes,
// unless it is already ejected.
func (e *endpoint) eject(why string) {
	if !e.ejected.CompareAndSwap(false, true) {
		return
	}
	e.ejections.Add(1)
	b := e.b
	Warnf("tp: balancer %q: instance %s ejected: %s; probing it every %v or more", b.cfg.Service, e.addr, why, b.cfg.EjectMin)
	b.wg.Add(1)
	go e.probe()
}

// probe pulls probeUri on the ejected e, once every ejection period, until
// it answers (e rejoins the rotation), or e is removed, or the balancer
// closes.
func (e *endpoint) probe() {
	b := e.b
	defer b.wg.Done()
	period := b.cfg.EjectMin
	for {
		t := time.NewTimer(period)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if s := e.sess.Load(); s != nil && s.IsOk() && e.probeOnce(s, period) {
			e.failStreak.Store(0)
			e.lastAnswer.Store(monoNow())
			e.ejected.Store(false)
			Noticef("tp: balancer %q: instance %s answers again: back in rotation", b.cfg.Service, e.addr)
			return
		}
		period = min(2*period, b.cfg.EjectMax)
	}
}

// probeOnce pulls probeUri on s, waiting up to wait for any answer.
func (e *endpoint) probeOnce(s *session, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	cmd := s.Pull(probeUri, nil, nil, socket.WithContext(ctx))
	return cmd.rerr == nil || cmd.isRemoteRerror()
}
