package tracing

import (
	"context"
	"github.com/teleport-go/teleport/internal/routeset"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	tp "github.com/teleport-go/teleport"
)

// Unmatched is the name of the server span of a received pull or push
// whose path is no registered route.
const Unmatched = routeset.Unmatched

// TracerName is the instrumentation name of the plugin's tracer.
const TracerName = "github.com/teleport-go/teleport/plugin/tracing"

// Attribute keys set on every span.
const (
	// RPCSystemKey is "rpc.system", always "teleport".
	RPCSystemKey = attribute.Key("rpc.system")
	// RPCMethodKey is "rpc.method", the span's name.
	RPCMethodKey = attribute.Key("rpc.method")
	// CodeKey is "teleport.code", the pull's Rerror code, 0 on success.
	CodeKey = attribute.Key("teleport.code")
)

var systemAttr = RPCSystemKey.String("teleport")

// Plugin is a tp.Plugin that traces pulls and pushes. Make it with New.
type Plugin struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	routes     routeset.Set

	// pending holds the spans of pulls sent and not yet ended, keyed by
	// session and seq: the reply's ReadCtx does not lead to its PullCmd.
	pending sync.Map // pullKey -> *clientPull
	// streams holds the span of each stream not yet ended.
	streams sync.Map // tp.StreamInfo -> trace.Span

	// ended, when set by a test, is called after a pull span was ended by
	// its context, which happens on a goroutine of the context's.
	ended func()
}

var (
	_ tp.PostRegPlugin            = (*Plugin)(nil)
	_ tp.PreWritePullPlugin       = (*Plugin)(nil)
	_ tp.PostReadReplyBodyPlugin  = (*Plugin)(nil)
	_ tp.PreWritePushPlugin       = (*Plugin)(nil)
	_ tp.PostWritePushPlugin      = (*Plugin)(nil)
	_ tp.PostReadPullHeaderPlugin = (*Plugin)(nil)
	_ tp.PostWriteReplyPlugin     = (*Plugin)(nil)
	_ tp.PostReadPushHeaderPlugin = (*Plugin)(nil)
	_ tp.PostReadPushBodyPlugin   = (*Plugin)(nil)
	_ tp.PostDisconnectPlugin     = (*Plugin)(nil)
)

// New returns a Plugin making spans with provider (nil: the global one,
// otel.GetTracerProvider) and carrying their context in packet metadata
// with propagator (nil: propagation.TraceContext, the W3C traceparent and
// tracestate).
func New(provider trace.TracerProvider, propagator propagation.TextMapPropagator) *Plugin {
	if provider == nil {
		provider = otel.GetTracerProvider()
	}
	if propagator == nil {
		propagator = propagation.TraceContext{}
	}
	return &Plugin{
		tracer:     provider.Tracer(TracerName),
		propagator: propagator,
	}
}

// Name returns "tracing".
func (p *Plugin) Name() string { return "tracing" }

// PostReg learns the route names that name server spans.
func (p *Plugin) PostReg(h *tp.Handler) *tp.Rerror {
	p.routes.Add(h)
	return nil
}

// spanKey is the key of a message's span in its context's Public.
type spanKey struct{}

// SpanFromCtx returns the span of the message ctx handles, as the plugin
// left it in ctx.Public(): the server span of a pull, the (ended) consumer
// span of a push, the producer span of a push being sent. Without one it
// returns a span that records nothing.
func SpanFromCtx(ctx tp.BackgroundCtx) trace.Span {
	if v, ok := ctx.Public().Load(spanKey{}); ok {
		return v.(trace.Span)
	}
	return trace.SpanFromContext(context.Background())
}

// Context returns a context holding SpanFromCtx(ctx), to send pulls and
// pushes from a handler as children of its span, with socket.WithContext.
// It has no deadline: add one with context.WithTimeout.
func Context(ctx tp.BackgroundCtx) context.Context {
	return trace.ContextWithSpan(context.Background(), SpanFromCtx(ctx))
}

// endWithCode sets the code attribute and, for an error, the status, then
// ends span.
func endWithCode(span trace.Span, rerr *tp.Rerror) {
	if rerr == nil {
		span.SetAttributes(CodeKey.Int(0))
	} else {
		span.SetAttributes(CodeKey.Int(int(rerr.Code)))
		span.SetStatus(codes.Error, rerr.Message)
	}
	span.End()
}
