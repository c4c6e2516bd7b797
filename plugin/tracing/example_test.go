package tracing_test

import (
	"context"
	"fmt"
	"net"
	"sort"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/tracing"
)

// Math is a pull controller.
type Math struct{ tp.PullCtx }

// Add answers the sum of its arguments, noting it in its span.
func (m *Math) Add(nums *[]int) (int, *tp.Rerror) {
	tracing.SpanFromCtx(m).AddEvent("adding")
	sum := 0
	for _, n := range *nums {
		sum += n
	}
	return sum, nil
}

func Example() {
	// In production: an exporter to a collector, with WithBatcher.
	exporter := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer provider.Shutdown(context.Background())

	// One Plugin per peer, added before the routes are registered so
	// that it learns their names; nil uses the W3C trace context.
	srv := tp.NewPeer(nil, tracing.New(provider, nil))
	srv.PullRouter.Reg(new(Math))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := tp.NewPeer(nil, tracing.New(provider, nil))
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		panic(rerr)
	}
	var sum int
	sess.Pull("/math/add", []int{1, 2, 3}, &sum)
	cli.Close()
	srv.Close() // waits for the reply, hence the end of the server span
	<-served

	spans := exporter.GetSpans()
	sort.Slice(spans, func(i, j int) bool { return spans[i].SpanKind > spans[j].SpanKind })
	client, server := spans[0], spans[1]
	for _, s := range spans {
		fmt.Println(s.SpanKind, s.Name, len(s.Events), "event(s)")
	}
	fmt.Println("server span is the client span's child:", server.Parent.SpanID() == client.SpanContext.SpanID())
	// Output:
	// client /math/add 0 event(s)
	// server /math/add 1 event(s)
	// server span is the client span's child: true
}
