// Package tracing is a teleport plugin that makes an OpenTelemetry span
// of every pull and push, on both sides, and carries the trace context in
// the packet metadata as W3C traceparent and tracestate, so that the
// span of a received message is the child of its sender's span.
//
// Usage: make one Plugin per peer and give it to tp.NewPeer, before routes
// are registered (see "Span names"):
//
//	peer := tp.NewPeer(cfg, tracing.New(tracerProvider, nil))
//	peer.PullRouter.Reg(new(Math))
//
// A pull sent with a context (socket.WithContext) gets a client span that
// is the child of the span in that context. A handler reaches its server
// span with SpanFromCtx, and makes its own pulls children of it with
// Context:
//
//	func (m *Math) Add(nums *[]int) (int, *tp.Rerror) {
//		tracing.SpanFromCtx(m).AddEvent("adding")
//		m.Session().Pull("/audit/log", nums, nil, socket.WithContext(tracing.Context(m)))
//		...
//	}
//
// # Spans
//
//	pull sent      kind client,   PreWritePull to the reply's PostReadReplyBody
//	pull received  kind server,   PostReadPullHeader to PostWriteReply
//	push sent      kind producer, PreWritePush to PostWritePush
//	push received  kind consumer, PostReadPushHeader to PostReadPushBody
//	stream opened  kind client,   PreStreamOpen to PostStreamEnd
//	stream accepted kind server,  PostStreamAccept to PostStreamEnd
//
// A stream's span carries one event per message, "message", with
// teleport.direction ("sent" or "received") and teleport.size (its body
// bytes); StreamSpan returns it, for a handler's or opener's own spans. A
// stream that ended with an error has status Error and its code.
//
// The span of a pull answered with an error, or that timed out, has status
// Error with the Rerror's message; every span of a pull carries the code
// as attribute teleport.code (0: success).
//
// # Limitations
//
// The plugin sees only what reaches its hooks, and an error from a hook
// (of any plugin) stops the later ones:
//
//   - a pull sent is ended when its reply body is decoded or, for a pull
//     sent with a context, when the context ends first (code 408). A pull
//     that ended otherwise (write failure, connection closed, a reply
//     refused by a read hook or with an undecodable body, a later
//     PreWritePull hook's error) is ended with status Error when its
//     session closes;
//   - the span of a received pull whose reply could not be written, and
//     that of a push whose write failed, are never ended, so never
//     exported;
//   - a received push gets its span once its body is decoded, ended
//     before the handler runs since no hook runs after it: SpanFromCtx
//     returns it ended, still fit to parent other spans. Pushes to no
//     route, refused by a hook or with an undecodable body get no span.
//
// # Span names
//
// A span sent is named by its path, without query. A span received is
// named by its route, as learnt from the PostReg hook; any other path,
// including those served by a Router.SetUnknown handler, is named
// Unmatched, so that remote peers cannot multiply span names. Routes
// registered before the plugin was added are Unmatched too.
package tracing
