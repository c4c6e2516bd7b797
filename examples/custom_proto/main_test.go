package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/socket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.Options()...) }

func TestRun(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, buf.String())
	}
	out := buf.String()
	for _, want := range []string{
		`protocol J "jsonlines", a pull on the wire: {"seq":1,"ptype":1,"uri":"/math/add?note=a%26b","meta":"X-Trace-Id=t%201","codec":106,"body":"WzEsMiwzXQ=="}`,
		"unpacked: seq=1 ptype=1 uri=/math/add?note=a%26b meta=X-Trace-Id=t%201 codec=j body=[1 2 3]",
		"client pulled /math/add [1 2 3 4] -> 10",
		"client pulled /math/add with 2000 ones, body gzipped -> 2000",
		"client pulled /math/missing -> code 404",
		`server got push /chat/say "hello over JSON lines"`,
		`client got push /chat/say "hello back from the server"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}

// TestPackConcurrent checks that lines packed by concurrent callers never
// interleave.
func TestPackConcurrent(t *testing.T) {
	var wire bytes.Buffer
	proto := NewJSONLinesProto(&wire)
	const callers, each = 8, 50
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := socket.NewPacket(socket.WithSeq(uint64(c*each+i)), socket.WithUri("/x"), socket.WithBody(strings.Repeat("y", 3000)))
				if err := proto.Pack(p); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	sc := bufio.NewScanner(&wire)
	sc.Buffer(nil, MaxLineLen)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d: %v", len(seen), err)
		}
		seen[l.Seq] = true
	}
	if len(seen) != callers*each {
		t.Fatalf("got %d distinct lines, want %d", len(seen), callers*each)
	}
}

func TestUnpackErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  func(error) bool
	}{
		{"line too long", strings.Repeat("x", MaxLineLen+1) + "\n", func(err error) bool { return errors.Is(err, ErrLineTooLong) }},
		{"cut short", `{"seq":1`, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"end of stream", "", func(err error) bool { return err == io.EOF }},
		{"not json", "hello\n", func(err error) bool { return err != nil && !socket.IsBodyError(err) }},
		{"bad meta", `{"seq":1,"meta":"a=%zz"}` + "\n", func(err error) bool { return err != nil && !socket.IsBodyError(err) }},
		{"unknown filter", `{"seq":1,"xfer":["nope"],"body":"eA=="}` + "\n", func(err error) bool { return errors.Is(err, socket.ErrXfer) }},
		// The line was read whole: only the body is lost.
		{"bad body", `{"seq":1,"codec":106,"body":"e30="}` + "\n", socket.IsBodyError},
		{"unknown codec", `{"seq":1,"codec":1,"body":"e30="}` + "\n", socket.IsBodyError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proto := NewJSONLinesProto(bytes.NewBufferString(tc.input))
			var n int
			p := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return &n }))
			if err := proto.Unpack(p); !tc.want(err) {
				t.Fatalf("Unpack: unexpected error %v", err)
			}
		})
	}
}

// TestConcurrentPulls sends rounds of 8 pulls at once over the protocol:
// their lines arrive together and wait in the bufio.Reader, which Buffered
// reports, so none is left waiting for more bytes.
func TestConcurrentPulls(t *testing.T) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis, NewJSONLinesProto) }()
	defer func() { srv.Close(); <-served }()
	cli := tp.NewPeer(nil)
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String(), NewJSONLinesProto)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				sum, err := tp.Call[int](ctx, sess, "/math/add", []int{i, round})
				if err != nil || sum != i+round {
					t.Errorf("round %d, pull %d: %d, %v", round, i, sum, err)
				}
			}()
		}
		wg.Wait()
	}
}
