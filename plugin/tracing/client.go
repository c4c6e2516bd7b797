package tracing

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/routeset"
)

// pullKey names a pull sent: its session (the session's pointer, whatever
// interface it was reached through) and its seq.
type pullKey struct {
	sess any
	seq  uint64
}

// clientPull is a pull sent whose span is not yet ended.
type clientPull struct {
	span trace.Span
	stop func() bool // stops the watch of the pull's context, if any
}

// Rerrors ending client spans whose reply the plugin did not see.
var (
	rerrTimeout = tp.NewRerror(tp.CodeHandleTimeout, "Handle Timeout", "the pull's context ended before its reply")
	// rerrNoReply marks the spans ended by their session's close: the
	// pull may have failed to be written, been refused by a later hook,
	// or waited for its reply, and the plugin cannot tell which, so the
	// span gets no code.
	rerrNoReply = tp.NewRerror(tp.CodeConnClosed, "Connection Closed", "")
)

// noReplyStatus is the status description of a span ended by rerrNoReply.
const noReplyStatus = "no reply seen before the session closed"

// PreWritePull starts the client span of a pull about to be sent, the
// child of the span in the pull's context, and puts it in the metadata.
func (p *Plugin) PreWritePull(ctx tp.WriteCtx) *tp.Rerror {
	out := ctx.Output()
	sess := ctx.Session()
	key := pullKey{sess: sess, seq: out.Seq()}
	pctx := out.Context()
	name := routeset.Path(out.Uri())
	spanCtx, span := p.tracer.Start(pctx, name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(systemAttr, RPCMethodKey.String(name)))
	p.propagator.Inject(spanCtx, MetaCarrier{out.Meta()})
	e := &clientPull{span: span}
	// The core ends the pull with CodeHandleTimeout when its context ends
	// first, and then no hook runs: watch the same context. The watch is
	// set before the entry is stored, so that the entry is complete when
	// another goroutine finds it; one firing before the store finds
	// nothing, hence the look at Err after it.
	if pctx.Done() != nil {
		e.stop = context.AfterFunc(pctx, func() { p.end(key, rerrTimeout) })
	}
	p.pending.Store(key, e)
	if pctx.Err() != nil {
		p.end(key, rerrTimeout)
	}
	// A session closed before the store ran its PostDisconnect without
	// seeing the entry; closing marks the session before running
	// PostDisconnect, so checking after the store misses no one.
	if !sess.IsOk() {
		p.end(key, rerrNoReply)
	}
	return nil
}

// PostReadReplyBody ends the client span of a pull when its reply is
// decoded, with the code the reply carries.
func (p *Plugin) PostReadReplyBody(ctx tp.ReadCtx) *tp.Rerror {
	p.end(pullKey{sess: ctx.Session(), seq: ctx.Seq()}, tp.NewRerrorFromMeta(ctx.Input().Meta()))
	return nil
}

// end ends the client span of the pull of key with rerr, unless it was
// ended already.
func (p *Plugin) end(key pullKey, rerr *tp.Rerror) {
	v, ok := p.pending.LoadAndDelete(key)
	if !ok {
		return
	}
	e := v.(*clientPull)
	if e.stop != nil {
		e.stop()
	}
	if rerr == rerrNoReply {
		e.span.SetStatus(codes.Error, noReplyStatus)
		e.span.End()
		return
	}
	endWithCode(e.span, rerr)
	if rerr == rerrTimeout && p.ended != nil {
		p.ended()
	}
}

// PostDisconnect ends the spans of the session's pulls still pending.
func (p *Plugin) PostDisconnect(sess tp.PostSession) *tp.Rerror {
	var id any = sess
	p.pending.Range(func(k, _ any) bool {
		if key := k.(pullKey); key.sess == id {
			p.end(key, rerrNoReply)
		}
		return true
	})
	return nil
}

// PreWritePush starts the producer span of a push about to be sent, the
// child of the span in the push's context, and puts it in the metadata.
func (p *Plugin) PreWritePush(ctx tp.WriteCtx) *tp.Rerror {
	out := ctx.Output()
	name := routeset.Path(out.Uri())
	spanCtx, span := p.tracer.Start(out.Context(), name,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(systemAttr, RPCMethodKey.String(name)))
	p.propagator.Inject(spanCtx, MetaCarrier{out.Meta()})
	ctx.Public().Store(spanKey{}, span)
	return nil
}

// PostWritePush ends the producer span of a push once written.
func (p *Plugin) PostWritePush(ctx tp.WriteCtx) *tp.Rerror {
	if v, ok := ctx.Public().Load(spanKey{}); ok {
		v.(trace.Span).End()
	}
	return nil
}
