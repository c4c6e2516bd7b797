// Command jspeer is the Go peer the TypeScript client's tests talk to
// (js/test): it serves a teleport peer over WebSocket on /tp with routes
// that exercise the client, and prints what happens on stdout.
//
//	go run ./internal/jspeer -addr 127.0.0.1:0
//
// Its first line is "listening on http://HOST:PORT". It serves until it is
// killed or its standard input closes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/websocket"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// out serialises the lines printed for the tests.
var out = struct {
	sync.Mutex
	w io.Writer
}{w: os.Stdout}

func printf(format string, args ...interface{}) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(out.w, format+"\n", args...)
}

// Math answers arithmetic and errors.
type Math struct{ tp.PullCtx }

// Add adds two numbers and echoes the "echo" metadata into the reply's.
func (m *Math) Add(a *[2]float64) (float64, *tp.Rerror) {
	if v := m.GetMeta("echo"); v != nil {
		m.SetMeta("echo", string(v))
	}
	return a[0] + a[1], nil
}

// Fail answers with a handler's own error.
func (m *Math) Fail(*interface{}) (interface{}, *tp.Rerror) {
	return nil, tp.NewRerror(499, "Refused", "odd input")
}

// Tricky answers with an error whose text needs JSON escaping.
func (m *Math) Tricky(*interface{}) (interface{}, *tp.Rerror) {
	return nil, tp.NewRerror(500, `say "hi" <b>&`, "C:\\dir\\file\nline2\ttab é")
}

// Echo answers every body as it came, in the pull's codec.
type Echo struct{ tp.PullCtx }

// Any echoes a JSON value.
func (e *Echo) Any(v *interface{}) (interface{}, *tp.Rerror) { return *v, nil }

// Text echoes a string; with ?gzip=1 the reply is gzipped.
func (e *Echo) Text(s *string) (string, *tp.Rerror) {
	if e.Query().Get("gzip") == "1" {
		e.AddXferPipe('g')
	}
	return *s, nil
}

// Upper answers a protobuf StringValue upper-cased.
func (e *Echo) Upper(s *wrapperspb.StringValue) (*wrapperspb.StringValue, *tp.Rerror) {
	return wrapperspb.String(strings.ToUpper(s.GetValue())), nil
}

// Slow answers after ms milliseconds.
func (e *Echo) Slow(ms *int) (int, *tp.Rerror) {
	time.Sleep(time.Duration(*ms) * time.Millisecond)
	return *ms, nil
}

// Deadline reports the deadline the caller sent (X-Tp-Timeout): the
// milliseconds left, or "none".
func (e *Echo) Deadline(*interface{}) (string, *tp.Rerror) {
	d, ok := e.Context().Deadline()
	if !ok {
		return "none", nil
	}
	return strconv.FormatInt(time.Until(d).Milliseconds(), 10), nil
}

// Hang waits until its context ends (the caller's deadline or cancel
// notice), 10 s at most, prints how it ended, and answers a timeout as a
// handler passing its context on would: so the caller gets 408 whichever
// timer fires first, its own or the handler's.
func (e *Echo) Hang(*interface{}) (string, *tp.Rerror) {
	select {
	case <-e.Context().Done():
		printf("hang %d ended: %v", e.Seq(), e.Context().Err())
		return "", tp.NewRerror(tp.CodeHandleTimeout, "Handle Timeout", e.Context().Err().Error())
	case <-time.After(10 * time.Second):
		printf("hang %d ended: not at all", e.Seq())
	}
	return "hung", nil
}

// Talk is the stream controller the client's streams open.
type Talk struct{ tp.StreamCtx }

// Echo sends back every message, prefixed with the open's argument, until
// the client's end; the header says who answered.
func (t *Talk) Echo(prefix *string) *tp.Rerror {
	t.SetHeader("who", "go")
	for {
		var msg interface{}
		if err := t.Recv(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return tp.NewRerror(tp.CodeBadPacket, "recv", err.Error())
		}
		if err := t.Send(fmt.Sprint(*prefix, msg)); err != nil {
			return tp.NewRerror(tp.CodeWriteFailed, "send", err.Error())
		}
	}
}

// Count sends the numbers 0 to n-1, then ends the stream.
func (t *Talk) Count(n *int) *tp.Rerror {
	for i := range *n {
		if err := t.Send(i); err != nil {
			return tp.NewRerror(tp.CodeWriteFailed, "send", err.Error())
		}
	}
	return nil
}

// Hold waits until its context ends, prints how, and fails with 418.
func (t *Talk) Hold(*interface{}) *tp.Rerror {
	t.SendHeader()
	<-t.Context().Done()
	printf("stream hold ended: %v", t.Context().Err())
	return tp.NewRerror(418, "Teapot", "held")
}

// Note keeps the last push received, per session.
type Note struct{ tp.PullCtx }

// Last returns the last /note/say push of this session.
func (n *Note) Last(*interface{}) (interface{}, *tp.Rerror) {
	v, _ := n.Session().Public().Load("last")
	return v, nil
}

// Say is the push controller that records pushes.
type Say struct{ tp.PushCtx }

// Say records the push.
func (s *Say) Say(v *interface{}) {
	s.Session().Public().Store("last", *v)
	printf("push /say/say %v", *v)
}

// Ctrl makes the server act on the client's session.
type Ctrl struct{ tp.PullCtx }

// AskArgs names a pull the server sends the client.
type AskArgs struct {
	Uri   string      `json:"uri"`
	Body  interface{} `json:"body"`
	Codec string      `json:"codec"` // "json" (default) or "string"
	Gzip  bool        `json:"gzip"`
	// TimeoutMs and CancelMs end the pull after so many ms: by its
	// deadline, or by cancelling it.
	TimeoutMs int `json:"timeout_ms"`
	CancelMs  int `json:"cancel_ms"`
}

// AskResult is the client's answer to that pull.
type AskResult struct {
	Reply   interface{} `json:"reply"`
	Code    int32       `json:"code"`
	Message string      `json:"message"`
	Detail  string      `json:"detail"`
	Meta    string      `json:"meta"`
}

// Ask pulls the client and reports its answer.
func (c *Ctrl) Ask(a *AskArgs) (*AskResult, *tp.Rerror) {
	settings := []socket.PacketSetting{socket.WithSetMeta("from", "go server")}
	var reply interface{}
	if a.Codec == "string" {
		settings = append(settings, socket.WithBodyCodec(codec.IdString))
		reply = new(string)
	} else {
		reply = new(interface{})
	}
	if a.Gzip {
		settings = append(settings, socket.WithXferPipe('g'))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if a.TimeoutMs > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(a.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	if a.CancelMs > 0 {
		time.AfterFunc(time.Duration(a.CancelMs)*time.Millisecond, cancel)
	}
	settings = append(settings, socket.WithContext(ctx))
	cmd := c.Session().Pull(a.Uri, a.Body, reply, settings...)
	r, rerr := cmd.Result()
	res := &AskResult{Reply: r, Meta: cmd.InputMeta().String()}
	if rerr != nil {
		res.Reply, res.Code, res.Message, res.Detail = nil, rerr.Code, rerr.Message, rerr.Detail
	}
	printf("asked %s: %+v", a.Uri, *res)
	return res, nil
}

// StreamArgs names a stream the server opens to the client.
type StreamArgs struct {
	Uri string `json:"uri"`
	N   int    `json:"n"`
}

// Stream opens a stream to the client at a.Uri, with "from go" as its
// argument: it sends the numbers 0 to a.N-1 and half-closes, and answers
// what came back, then the client's header "who".
func (c *Ctrl) Stream(a *StreamArgs) ([]string, *tp.Rerror) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, rerr := c.Session().OpenStream(a.Uri, "from go", socket.WithSetMeta("from", "go server"), socket.WithContext(ctx))
	if rerr != nil {
		return nil, rerr
	}
	defer st.Close()
	go func() {
		for i := range a.N {
			if st.Send(i) != nil {
				return
			}
		}
		st.CloseSend()
	}()
	var got []string
	for {
		var s string
		err := st.Recv(&s)
		if err == io.EOF {
			break
		}
		if err != nil {
			var r *tp.Rerror
			if errors.As(err, &r) {
				return got, r
			}
			return got, tp.NewRerror(tp.CodeInternalServerError, "recv", err.Error())
		}
		got = append(got, s)
	}
	return append(got, "who="+string(st.Header().Peek("who"))), nil
}

// Tell pushes a.Body to the client at a.Uri.
func (c *Ctrl) Tell(a *AskArgs) (string, *tp.Rerror) {
	if rerr := c.Session().Push(a.Uri, a.Body, socket.WithSetMeta("from", "go server")); rerr != nil {
		return "", rerr
	}
	return "told", nil
}

// Drop closes the session once the reply has had time to leave.
func (c *Ctrl) Drop(*interface{}) (string, *tp.Rerror) {
	sess := c.Session()
	time.AfterFunc(20*time.Millisecond, func() { sess.Close() })
	return "dropping", nil
}

// Shutdown closes the whole peer (goaway to every session).
func (c *Ctrl) Shutdown(*interface{}) (string, *tp.Rerror) {
	p := c.Peer()
	go func() {
		p.Close()
		printf("peer closed")
	}()
	return "closing", nil
}

// sessions reports sessions as they come and go.
type sessions struct{}

func (sessions) Name() string { return "sessions" }
func (sessions) PostAccept(s tp.PreSession) *tp.Rerror {
	printf("accepted %s", s.Id())
	return nil
}
func (sessions) PostDisconnect(s tp.PostSession) *tp.Rerror {
	printf("disconnected %s", s.Id())
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "the address to serve on")
	flag.Parse()
	log.SetFlags(0)

	peer := tp.NewPeer(nil, sessions{})
	peer.PullRouter.Reg(new(Math))
	peer.PullRouter.Reg(new(Echo))
	peer.PullRouter.Reg(new(Note))
	peer.PullRouter.Reg(new(Ctrl))
	peer.PushRouter.Reg(new(Say))
	peer.StreamRouter.Reg(new(Talk))

	mux := http.NewServeMux()
	mux.Handle("/tp", websocket.NewHandler(peer, nil))
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	printf("listening on http://%s", lis.Addr())
	go func() {
		// The test that started us ended: so do we.
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	log.Fatal(http.Serve(lis, mux))
}
