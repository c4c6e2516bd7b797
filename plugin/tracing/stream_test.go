package tracing

import (
	"context"
	"io"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/teleport-go/teleport/internal/tptest"
	"github.com/teleport-go/teleport/socket"
)

// TestStreamSpans: a stream has a client span on its opener, a child of
// the span in its context, and a server span on the other side, its
// child; each message is an event of both.
func TestStreamSpans(t *testing.T) {
	p := newPair(t)
	p.srv.StreamRouter.Reg(new(tptest.Echo))
	parentCtx, parent := p.provider.Tracer("test").Start(context.Background(), "parent")
	st, rerr := p.sess.OpenStream("/echo/back", nil, socket.WithContext(parentCtx))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !p.cliTracing.StreamSpan(st).SpanContext().IsValid() {
		t.Error("StreamSpan of the opened stream records nothing")
	}
	for _, s := range []string{"a", "bb"} {
		if err := st.Send(s); err != nil {
			t.Fatal(err)
		}
		if err := st.Recv(new(string)); err != nil {
			t.Fatal(err)
		}
	}
	st.CloseSend()
	if err := st.Recv(new(string)); err != io.EOF {
		t.Fatal(err)
	}
	st.Close()
	parent.End()
	spans := p.close(t)
	cli := find(t, spans, trace.SpanKindClient, "/echo/back")
	srv := find(t, spans, trace.SpanKindServer, "/echo/back")
	if cli.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Error("the client span is not the child of the opener's context's span")
	}
	if srv.Parent.SpanID() != cli.SpanContext.SpanID() || srv.SpanContext.TraceID() != cli.SpanContext.TraceID() {
		t.Error("the server span is not the child of the client span")
	}
	for _, s := range []struct {
		name   string
		events int
	}{{"client", len(cli.Events)}, {"server", len(srv.Events)}} {
		if s.events != 4 {
			t.Errorf("%s span: %d events, want 4 (2 messages each way)", s.name, s.events)
		}
	}
}
