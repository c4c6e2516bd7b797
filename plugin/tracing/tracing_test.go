package tracing

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/tptest"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/utils"
	"go.uber.org/goleak"
)

// TestMain formats every log line into a discarding handler, so that the
// logging paths run under -race without noise, and checks for leaks.
func TestMain(m *testing.M) {
	tptest.DiscardLogs()
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// Calc is the server's pull controller.
type Calc struct{ tp.PullCtx }

// Echo answers its argument.
func (c *Calc) Echo(s *string) (string, *tp.Rerror) { return *s, nil }

// Fail answers a handler's own error code.
func (c *Calc) Fail(*string) (string, *tp.Rerror) {
	return "", tp.NewRerror(418, "Teapot", "always fails")
}

// Nested pulls the client's /clock/now as a child of its own span.
func (c *Calc) Nested(*string) (string, *tp.Rerror) {
	SpanFromCtx(c).AddEvent("nesting")
	var now string
	return now, c.Session().Pull("/clock/now", "x", &now, socket.WithContext(Context(c))).Rerror()
}

// gate holds Calc.Block until closed; each test sets its own.
var gate chan struct{}

// Block answers once gate is closed.
func (c *Calc) Block(*string) (string, *tp.Rerror) {
	<-gate
	return "late", nil
}

// Clock is the client's pull controller, pulled back by Calc.Nested.
type Clock struct{ tp.PullCtx }

// Now answers a fixed time.
func (c *Clock) Now(*string) (string, *tp.Rerror) { return "noon", nil }

// Note is the server's push controller.
type Note struct{ tp.PushCtx }

// noted receives the span context Note.Add saw.
var noted = make(chan trace.SpanContext, 1)

// Add hands the span context of its push to the test.
func (n *Note) Add(*string) { noted <- SpanFromCtx(n).SpanContext() }

// pair is a server and a client peer, each traced by its own Plugin into
// one in-memory exporter, with a session between them.
type pair struct {
	srv, cli   *tp.Peer
	cliTracing *Plugin
	sess       tp.Session
	served     chan error
	exporter   *tracetest.InMemoryExporter
	provider   *sdktrace.TracerProvider
}

func newPair(t *testing.T) *pair {
	t.Helper()
	exporter := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	p := &pair{
		srv:        tp.NewPeer(nil, New(provider, nil)),
		cliTracing: New(provider, nil),
		served:     make(chan error, 1),
		exporter:   exporter,
		provider:   provider,
	}
	p.cli = tp.NewPeer(nil, p.cliTracing)
	p.srv.PullRouter.Reg(new(Calc))
	p.srv.PushRouter.Reg(new(Note))
	p.cli.PullRouter.Reg(new(Clock))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { p.served <- p.srv.Serve(lis) }()
	sess, rerr := p.cli.Dial(lis.Addr().String())
	if rerr != nil {
		p.srv.Close()
		<-p.served
		t.Fatal(rerr)
	}
	p.sess = sess
	return p
}

// close closes both peers, which waits for the server's replies and so for
// their spans to end, and returns the spans exported.
func (p *pair) close(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	p.cli.Close()
	p.srv.Close()
	if err := <-p.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	spans := p.exporter.GetSpans()
	if err := p.provider.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	return spans
}

// find returns the one span of kind and name.
func find(t *testing.T, spans tracetest.SpanStubs, kind trace.SpanKind, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.SpanKind == kind && s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s spans named %q, want 1; spans: %v", len(found), kind, name, names(spans))
	}
	return found[0]
}

func names(spans tracetest.SpanStubs) []string {
	var ns []string
	for _, s := range spans {
		ns = append(ns, s.SpanKind.String()+" "+s.Name)
	}
	return ns
}

// checkChild checks that child's parent is parent, in the same trace.
func checkChild(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("%s %s: trace %s, want its parent's %s", child.SpanKind, child.Name, child.SpanContext.TraceID(), parent.SpanContext.TraceID())
	}
	if child.Parent.SpanID() != parent.SpanContext.SpanID() {
		t.Errorf("%s %s: parent span %s, want %s (%s %s)", child.SpanKind, child.Name, child.Parent.SpanID(), parent.SpanContext.SpanID(), parent.SpanKind, parent.Name)
	}
	if !child.Parent.IsRemote() && child.SpanKind != trace.SpanKindClient {
		t.Errorf("%s %s: parent is not remote", child.SpanKind, child.Name)
	}
}

// checkCode checks the code attribute, and the status it implies.
func checkCode(t *testing.T, s tracetest.SpanStub, code int, message string) {
	t.Helper()
	var got attribute.Value
	for _, kv := range s.Attributes {
		if kv.Key == CodeKey {
			got = kv.Value
		}
	}
	if got.Type() != attribute.INT64 || got.AsInt64() != int64(code) {
		t.Errorf("%s %s: %s = %v, want %d", s.SpanKind, s.Name, CodeKey, got.Emit(), code)
	}
	want := sdktrace.Status{Code: codes.Unset}
	if code != 0 {
		want = sdktrace.Status{Code: codes.Error, Description: message}
	}
	if s.Status != want {
		t.Errorf("%s %s: status %+v, want %+v", s.SpanKind, s.Name, s.Status, want)
	}
}

func TestPullSpans(t *testing.T) {
	tests := []struct {
		uri        string
		clientName string
		serverName string
		code       int
		message    string
	}{
		{"/calc/echo?x=1", "/calc/echo", "/calc/echo", 0, ""},
		{"/calc/fail", "/calc/fail", "/calc/fail", 418, "Teapot"},
		{"/nowhere?y=2", "/nowhere", Unmatched, int(tp.CodeNotFound), "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			p := newPair(t)
			rerr := p.sess.Pull(tt.uri, "hi", nil).Rerror()
			if got := int(codeOf(rerr)); got != tt.code {
				t.Errorf("pull: %v, want code %d", rerr, tt.code)
			}
			spans := p.close(t)
			if len(spans) != 2 {
				t.Fatalf("spans %v, want a client and a server span", names(spans))
			}
			client := find(t, spans, trace.SpanKindClient, tt.clientName)
			server := find(t, spans, trace.SpanKindServer, tt.serverName)
			if client.Parent.IsValid() {
				t.Errorf("client span has parent %s, want none", client.Parent.SpanID())
			}
			checkChild(t, server, client)
			checkCode(t, client, tt.code, tt.message)
			checkCode(t, server, tt.code, tt.message)
		})
	}
}

func TestPushSpans(t *testing.T) {
	p := newPair(t)
	if rerr := p.sess.Push("/note/add?z=1", "hi"); rerr != nil {
		t.Fatal(rerr)
	}
	inHandler := <-noted
	spans := p.close(t)
	producer := find(t, spans, trace.SpanKindProducer, "/note/add")
	consumer := find(t, spans, trace.SpanKindConsumer, "/note/add")
	checkChild(t, consumer, producer)
	if inHandler.SpanID() != consumer.SpanContext.SpanID() {
		t.Errorf("SpanFromCtx in the handler: span %s, want the consumer's %s", inHandler.SpanID(), consumer.SpanContext.SpanID())
	}
	if consumer.StartTime.After(consumer.EndTime) || consumer.StartTime.IsZero() {
		t.Errorf("consumer span from %v to %v", consumer.StartTime, consumer.EndTime)
	}
}

// TestParentSpans checks that a pull sent with a context is the child of
// its span, and that a handler's pull made with Context is the child of
// the handler's span, across both peers.
func TestParentSpans(t *testing.T) {
	p := newPair(t)
	ctx, root := p.provider.Tracer("test").Start(context.Background(), "root")
	var now string
	if rerr := p.sess.Pull("/calc/nested", "x", &now, socket.WithContext(ctx)).Rerror(); rerr != nil || now != "noon" {
		t.Errorf("pull: %q, %v; want noon", now, rerr)
	}
	root.End()
	spans := p.close(t)
	rootSpan := find(t, spans, trace.SpanKindInternal, "root")
	client := find(t, spans, trace.SpanKindClient, "/calc/nested")
	server := find(t, spans, trace.SpanKindServer, "/calc/nested")
	nestedClient := find(t, spans, trace.SpanKindClient, "/clock/now")
	nestedServer := find(t, spans, trace.SpanKindServer, "/clock/now")
	checkChild(t, client, rootSpan)
	checkChild(t, server, client)
	checkChild(t, nestedClient, server)
	checkChild(t, nestedServer, nestedClient)
	if len(server.Events) != 1 || server.Events[0].Name != "nesting" {
		t.Errorf("server span events %v, want the handler's", server.Events)
	}
}

// TestUnrepliedPullSpans covers the pulls that end without a reply
// reaching PostReadReplyBody.
func TestUnrepliedPullSpans(t *testing.T) {
	tests := []struct {
		name   string
		pull   func(t *testing.T, sess tp.Session, ended <-chan struct{})
		code   int // -1: no code attribute
		status sdktrace.Status
	}{
		{
			name: "context timeout",
			pull: func(t *testing.T, sess tp.Session, ended <-chan struct{}) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				if rerr := sess.Pull("/calc/block", "x", nil, socket.WithContext(ctx)).Rerror(); codeOf(rerr) != tp.CodeHandleTimeout {
					t.Errorf("pull: %v, want code %d", rerr, tp.CodeHandleTimeout)
				}
				<-ended // the plugin watches the context on a goroutine of its own
			},
			code:   int(tp.CodeHandleTimeout),
			status: sdktrace.Status{Code: codes.Error, Description: rerrTimeout.Message},
		},
		{
			name: "session closed",
			pull: func(t *testing.T, sess tp.Session, _ <-chan struct{}) {
				done := make(chan *tp.PullCmd, 1)
				sess.AsyncPull("/calc/block", "x", nil, done)
				sess.Close()
				if rerr := (<-done).Rerror(); codeOf(rerr) != tp.CodeConnClosed {
					t.Errorf("pull: %v, want code %d", rerr, tp.CodeConnClosed)
				}
			},
			code:   -1,
			status: sdktrace.Status{Code: codes.Error, Description: noReplyStatus},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate = make(chan struct{})
			p := newPair(t)
			ended := make(chan struct{}, 1)
			p.cliTracing.ended = func() { ended <- struct{}{} }
			tt.pull(t, p.sess, ended)
			close(gate)
			spans := p.close(t)
			client := find(t, spans, trace.SpanKindClient, "/calc/block")
			if client.Status != tt.status {
				t.Errorf("status %+v, want %+v", client.Status, tt.status)
			}
			code := -1
			for _, kv := range client.Attributes {
				if kv.Key == CodeKey {
					code = int(kv.Value.AsInt64())
				}
			}
			if code != tt.code {
				t.Errorf("%s = %d, want %d (-1: none)", CodeKey, code, tt.code)
			}
			n := 0
			p.cliTracing.pending.Range(func(any, any) bool { n++; return true })
			if n != 0 {
				t.Errorf("%d client spans left pending", n)
			}
		})
	}
}

func TestMetaCarrier(t *testing.T) {
	var meta utils.Args
	meta.Add("a", "1")
	meta.Add("a", "2")
	c := MetaCarrier{&meta}
	c.Set("traceparent", "00-x")
	c.Set("a", "3")
	if got := c.Get("a"); got != "3" {
		t.Errorf("Get(a) = %q, want 3", got)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q, want empty", got)
	}
	keys := c.Keys()
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "traceparent" {
		t.Errorf("Keys() = %q, want [a traceparent]", keys)
	}
}

func TestSpanFromCtxWithoutSpan(t *testing.T) {
	p := newPair(t)
	defer p.close(t)
	if s := SpanFromCtx(p.sess.Pull("/calc/echo", "x", nil)); s.SpanContext().IsValid() {
		t.Errorf("SpanFromCtx of a PullCmd: %v, want a span that records nothing", s.SpanContext())
	}
}

func codeOf(rerr *tp.Rerror) int32 {
	if rerr == nil {
		return 0
	}
	return rerr.Code
}
