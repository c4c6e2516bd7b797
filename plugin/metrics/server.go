package metrics

import (
	"time"

	tp "github.com/teleport-go/teleport"
)

// inflight is what the read hooks of a received message leave in its
// context's Public for the hook that observes it.
type inflight struct {
	start time.Time
	route string
}

// publicKey is the key of p's entry in a context's or session's Public;
// keyed by plugin so that two Plugins on one peer do not mix.
type publicKey struct{ p *Plugin }

// PostReadPullHeader starts timing a received pull.
func (p *Plugin) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	ctx.Public().Store(publicKey{p}, &inflight{start: time.Now(), route: p.routes.Label(true, ctx.Path(), Unmatched)})
	return nil
}

// PostWriteReply observes a received pull once its reply is written, with
// the reply's code.
func (p *Plugin) PostWriteReply(ctx tp.WriteCtx) *tp.Rerror {
	v, ok := ctx.Public().Load(publicKey{p})
	if !ok {
		return nil
	}
	in := v.(*inflight)
	o := p.serverPulls.get(in.route, codeOf(tp.NewRerrorFromMeta(ctx.Output().Meta())))
	o.count.Inc()
	o.dur.Observe(time.Since(in.start).Seconds())
	return nil
}

// PostReadPushHeader starts timing a received push.
func (p *Plugin) PostReadPushHeader(ctx tp.ReadCtx) *tp.Rerror {
	ctx.Public().Store(publicKey{p}, &inflight{start: time.Now(), route: p.routes.Label(false, ctx.Path(), Unmatched)})
	return nil
}

// PostReadPushBody observes a received push once its body is decoded,
// just before its handler runs.
func (p *Plugin) PostReadPushBody(ctx tp.ReadCtx) *tp.Rerror {
	v, ok := ctx.Public().Load(publicKey{p})
	if !ok {
		return nil
	}
	in := v.(*inflight)
	o := p.serverPushes.get(in.route, 0)
	o.count.Inc()
	o.dur.Observe(time.Since(in.start).Seconds())
	return nil
}
