package metrics

import (
	"context"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/routeset"
)

// pullKey names a pull sent: its session (the session's pointer, whatever
// interface it was reached through) and its seq.
type pullKey struct {
	sess any
	seq  uint64
}

// clientPull is a pull sent and not yet observed.
type clientPull struct {
	start time.Time
	route string
	stop  func() bool // stops the watch of the pull's context, if any
}

// PreWritePull starts timing a pull about to be sent.
func (p *Plugin) PreWritePull(ctx tp.WriteCtx) *tp.Rerror {
	out := ctx.Output()
	sess := ctx.Session()
	key := pullKey{sess: sess, seq: out.Seq()}
	e := &clientPull{start: time.Now(), route: routeset.Path(out.Uri())}
	// The core ends the pull with CodeHandleTimeout when its context ends
	// first, and then no hook runs: watch the same context. The watch is
	// set before the entry is stored, so that the entry is complete when
	// another goroutine finds it; one firing before the store finds
	// nothing, hence the look at Err after it.
	pctx := out.Context()
	if pctx.Done() != nil {
		e.stop = context.AfterFunc(pctx, func() { p.timeout(key) })
	}
	p.pending.Store(key, e)
	if pctx.Err() != nil {
		p.timeout(key)
	}
	// A session closed before the store ran its PostDisconnect without
	// seeing the entry; closing marks the session before running
	// PostDisconnect, so checking after the store misses no one.
	if !sess.IsOk() {
		p.abandon(key)
	}
	return nil
}

// PostReadReplyBody observes a pull when its reply is decoded, with the
// code the reply carries.
func (p *Plugin) PostReadReplyBody(ctx tp.ReadCtx) *tp.Rerror {
	v, ok := p.pending.LoadAndDelete(pullKey{sess: ctx.Session(), seq: ctx.Seq()})
	if !ok {
		return nil
	}
	e := v.(*clientPull)
	if e.stop != nil {
		e.stop()
	}
	p.observePull(e, codeOf(tp.NewRerrorFromMeta(ctx.Input().Meta())))
	return nil
}

// timeout observes the pull of key as ended by its context, unless its
// reply was observed first.
func (p *Plugin) timeout(key pullKey) {
	if v, ok := p.pending.LoadAndDelete(key); ok {
		p.observePull(v.(*clientPull), tp.CodeHandleTimeout)
		if p.timedOut != nil {
			p.timedOut()
		}
	}
}

// abandon counts the pull of key as unanswered, unless it was observed.
func (p *Plugin) abandon(key pullKey) {
	if v, ok := p.pending.LoadAndDelete(key); ok {
		e := v.(*clientPull)
		if e.stop != nil {
			e.stop()
		}
		p.unanswered.get(e.route, 0).count.Inc()
	}
}

func (p *Plugin) observePull(e *clientPull, code int32) {
	o := p.clientPulls.get(e.route, code)
	o.count.Inc()
	o.dur.Observe(time.Since(e.start).Seconds())
}

// PostWritePush counts a push written.
func (p *Plugin) PostWritePush(ctx tp.WriteCtx) *tp.Rerror {
	p.clientPushes.get(routeset.Path(ctx.Output().Uri()), 0).count.Inc()
	return nil
}
