package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/routeset"
)

var (
	_ tp.PreStreamOpenPlugin    = (*Plugin)(nil)
	_ tp.PostStreamAcceptPlugin = (*Plugin)(nil)
	_ tp.StreamMsgPlugin        = (*Plugin)(nil)
	_ tp.PostStreamEndPlugin    = (*Plugin)(nil)
)

// Attribute keys of a stream's message events.
const (
	// DirectionKey is "teleport.direction": "sent" or "received".
	DirectionKey = attribute.Key("teleport.direction")
	// SizeKey is "teleport.size", a message's body bytes.
	SizeKey = attribute.Key("teleport.size")
)

// A stream has one span on each side, from its open to its end: a client
// span on the side that opened it (a child of the span in the stream's
// context), a server span on the other (a child of the opener's, carried
// in the open's metadata). Each message is an event of it, "message", with
// its direction and size. The span is named after the stream's path: on
// the accepting side always a registered route, since opens to others are
// refused before the hooks.

// PreStreamOpen starts the client span of a stream and carries its
// context in the open's metadata.
func (p *Plugin) PreStreamOpen(info tp.StreamInfo) *tp.Rerror {
	name := routeset.Path(info.Uri())
	ctx, span := p.tracer.Start(info.Context(), name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(systemAttr, RPCMethodKey.String(name)))
	p.propagator.Inject(ctx, MetaCarrier{info.OpenMeta()})
	p.streams.Store(info, span)
	return nil
}

// PostStreamAccept starts the server span of a stream the other side
// opened.
func (p *Plugin) PostStreamAccept(info tp.StreamInfo) *tp.Rerror {
	parent := p.propagator.Extract(context.Background(), MetaCarrier{info.OpenMeta()})
	name := routeset.Path(info.Uri())
	_, span := p.tracer.Start(parent, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(systemAttr, RPCMethodKey.String(name)))
	p.streams.Store(info, span)
	return nil
}

// StreamMsg adds a message event to the stream's span.
func (p *Plugin) StreamMsg(info tp.StreamInfo, sent bool, size int) *tp.Rerror {
	if v, ok := p.streams.Load(info); ok {
		dir := "received"
		if sent {
			dir = "sent"
		}
		v.(trace.Span).AddEvent("message", trace.WithAttributes(DirectionKey.String(dir), SizeKey.Int(size)))
	}
	return nil
}

// PostStreamEnd ends the stream's span with its code.
func (p *Plugin) PostStreamEnd(info tp.StreamInfo) *tp.Rerror {
	if v, ok := p.streams.LoadAndDelete(info); ok {
		endWithCode(v.(trace.Span), info.Err())
	}
	return nil
}

// StreamSpan returns the span of st, a stream the plugin traces (a stream
// handler's StreamCtx, or what OpenStream returned), to make spans of the
// work it does as its children; a span that records nothing otherwise.
func (p *Plugin) StreamSpan(st tp.Stream) trace.Span {
	if info, ok := st.(tp.StreamInfo); ok {
		if v, ok := p.streams.Load(info); ok {
			return v.(trace.Span)
		}
	}
	return trace.SpanFromContext(context.Background())
}
