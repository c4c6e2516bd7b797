package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	tp "github.com/teleport-go/teleport"
)

// PostReadPullHeader starts the server span of a received pull, the child
// of the span in the pull's metadata.
func (p *Plugin) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	parent := p.propagator.Extract(context.Background(), MetaCarrier{ctx.Input().Meta()})
	name := p.routes.Label(true, ctx.Path(), Unmatched)
	_, span := p.tracer.Start(parent, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(systemAttr, RPCMethodKey.String(name)))
	ctx.Public().Store(spanKey{}, span)
	return nil
}

// PostWriteReply ends the server span of a pull once its reply is
// written, with the reply's code.
func (p *Plugin) PostWriteReply(ctx tp.WriteCtx) *tp.Rerror {
	if v, ok := ctx.Public().Load(spanKey{}); ok {
		endWithCode(v.(trace.Span), tp.NewRerrorFromMeta(ctx.Output().Meta()))
	}
	return nil
}

// pushStartKey is the key of a received push's arrival time in Public.
type pushStartKey struct{}

// PostReadPushHeader notes when a push arrived: its span starts there.
func (p *Plugin) PostReadPushHeader(ctx tp.ReadCtx) *tp.Rerror {
	ctx.Public().Store(pushStartKey{}, time.Now())
	return nil
}

// PostReadPushBody makes the consumer span of a received push, from its
// arrival to now, and ends it: no hook runs after the handler, and a span
// started at the header would never end for a push dropped on the way.
func (p *Plugin) PostReadPushBody(ctx tp.ReadCtx) *tp.Rerror {
	pub := ctx.Public()
	v, ok := pub.Load(pushStartKey{})
	if !ok {
		return nil
	}
	parent := p.propagator.Extract(context.Background(), MetaCarrier{ctx.Input().Meta()})
	name := p.routes.Label(false, ctx.Path(), Unmatched)
	_, span := p.tracer.Start(parent, name,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(v.(time.Time)),
		trace.WithAttributes(systemAttr, RPCMethodKey.String(name)))
	span.End()
	pub.Store(spanKey{}, span)
	return nil
}
