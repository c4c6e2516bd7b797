// Command gzip_meta shows what travels with a body: the gzip transfer
// filter on a pull (socket.WithXferPipe) and on a reply (the handler's
// AddXferPipe), metadata (socket.WithSetMeta, read by the handler with
// GetMeta and set on the reply with SetMeta), query strings read with Query,
// and body codecs other than JSON: protobuf with a well-known wrapper type,
// and the string codec for string and []byte bodies.
//
// The client has a small plugin that looks at each reply's header, so it can
// print the reply's frame size, filters, codec and metadata.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/xfer"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EchoReply is what /api/echo tells about the pull it got.
type EchoReply struct {
	Path      string
	Name      string
	N         int
	TraceId   string // the X-Trace-Id metadata of the pull
	BodyLen   int    // the decoded body, in bytes
	FrameSize uint32 // the frame as read, after compression
	Filters   []string
}

// Api is the server's pull controller: Api.Echo -> /api/echo, and so on.
type Api struct {
	tp.PullCtx
}

// Echo reports the query, the metadata and the size of the pull it got.
func (a *Api) Echo(text *string) (EchoReply, *tp.Rerror) {
	n, err := strconv.Atoi(a.Query().Get("n"))
	if err != nil {
		return EchoReply{}, tp.NewRerror(tp.CodeBadPacket, "Bad Packet", "query n: "+err.Error())
	}
	in := a.Input()
	return EchoReply{
		Path:      a.Path(),
		Name:      a.Query().Get("name"),
		N:         n,
		TraceId:   string(a.GetMeta("X-Trace-Id")),
		BodyLen:   len(*text),
		FrameSize: in.Size(),
		Filters:   in.XferPipe().Names(),
	}, nil
}

// Repeat returns word repeated n times (n from the query) and compresses
// the reply with gzip, whatever the pull used.
func (a *Api) Repeat(word *string) (string, *tp.Rerror) {
	n, err := strconv.Atoi(a.Query().Get("n"))
	if err != nil || n < 0 || n > 100000 {
		return "", tp.NewRerror(tp.CodeBadPacket, "Bad Packet", fmt.Sprintf("query n=%q: want 0..100000", a.Query().Get("n")))
	}
	a.AddXferPipe(xfer.IdGzip)
	a.SetMeta("X-Repeated", strconv.Itoa(n))
	return strings.Repeat(*word, n), nil
}

// Upper upper-cases a protobuf string; the reply uses the pull's codec,
// protobuf.
func (a *Api) Upper(s *wrapperspb.StringValue) (*wrapperspb.StringValue, *tp.Rerror) {
	return wrapperspb.String(strings.ToUpper(s.GetValue())), nil
}

// Reverse reverses a string, by runes.
func (a *Api) Reverse(s *string) (string, *tp.Rerror) {
	r := []rune(*s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r), nil
}

// replyHeader is what the client's plugin saw of one reply.
type replyHeader struct {
	size    uint32
	filters []string
	codec   byte
	meta    string
}

// ReplyWatch is a client plugin that records the header of every reply by
// the seq of its pull.
type ReplyWatch struct {
	mu   sync.Mutex // guards seen
	seen map[uint64]replyHeader
}

var _ tp.PostReadReplyHeaderPlugin = (*ReplyWatch)(nil)

// Name returns the plugin's name.
func (w *ReplyWatch) Name() string { return "reply-watch" }

// PostReadReplyHeader records the reply's header; it runs in the read loop
// before the pull completes.
func (w *ReplyWatch) PostReadReplyHeader(ctx tp.ReadCtx) *tp.Rerror {
	in := ctx.Input()
	meta := ctx.CopyMeta()
	meta.Del(tp.MetaRerrorKey)
	w.mu.Lock()
	w.seen[ctx.Seq()] = replyHeader{in.Size(), in.XferPipe().Names(), in.BodyCodec(), meta.String()}
	w.mu.Unlock()
	return nil
}

// of returns the header of the reply to cmd.
func (w *ReplyWatch) of(cmd *tp.PullCmd) replyHeader {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[cmd.Output().Seq()]
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gzip_meta:", err)
		os.Exit(1)
	}
}

// run starts the server and the client, prints what each pull sent and got,
// and closes both.
func run(out io.Writer) (err error) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Api))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Close()
		err = errors.Join(err, <-served)
	}()

	watch := &ReplyWatch{seen: map[uint64]replyHeader{}}
	cli := tp.NewPeer(nil, watch)
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		return rerr.ToError()
	}

	// 1. A gzip-compressed pull with metadata and a query.
	text := strings.Repeat("teleport compresses repetitive bodies well. ", 1000)
	var echo EchoReply
	cmd := sess.Pull("/api/echo?name=gopher", text, &echo,
		socket.WithQuery("n", "3"),
		socket.WithSetMeta("X-Trace-Id", "trace-42"),
		socket.WithXferPipe(xfer.IdGzip),
	)
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("pull /api/echo: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "pull %s: %d-byte body sent in a %d-byte frame\n", cmd.Output().Uri(), len(text), cmd.Output().Size())
	fmt.Fprintf(out, "  server saw path=%s name=%s n=%d X-Trace-Id=%s body=%d bytes frame=%d bytes filters=%v\n",
		echo.Path, echo.Name, echo.N, echo.TraceId, echo.BodyLen, echo.FrameSize, echo.Filters)

	// 2. A plain pull whose handler compresses the reply and sets metadata.
	var repeated string
	cmd = sess.Pull("/api/repeat?n=2000", "na", &repeated)
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("pull /api/repeat: %w", rerr.ToError())
	}
	h := watch.of(cmd)
	fmt.Fprintf(out, "pull %s: %d-byte reply came in a %d-byte frame, filters=%v, meta %s\n",
		cmd.Output().Uri(), len(repeated), h.size, h.filters, h.meta)

	// 3. Protobuf: the pull's codec, also used for the reply.
	upper := new(wrapperspb.StringValue)
	cmd = sess.Pull("/api/upper", wrapperspb.String("protobuf well-known types"), upper, socket.WithBodyCodec(codec.IdProtobuf))
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("pull /api/upper: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "pull /api/upper (codec %c): %q, reply codec %c\n", cmd.Output().BodyCodec(), upper.GetValue(), watch.of(cmd).codec)

	// 4. The string codec, chosen for a string, and implied by []byte.
	var reversed string
	cmd = sess.Pull("/api/reverse", "hello, string codec", &reversed, socket.WithBodyCodec(codec.IdString))
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("pull /api/reverse: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "pull /api/reverse (codec %c) string: %q, reply codec %c\n", cmd.Output().BodyCodec(), reversed, watch.of(cmd).codec)
	var reversedBytes []byte
	cmd = sess.Pull("/api/reverse", []byte("raw bytes"), &reversedBytes)
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("pull /api/reverse: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "pull /api/reverse (codec %c) []byte: %q, reply codec %c\n", cmd.Output().BodyCodec(), reversedBytes, watch.of(cmd).codec)
	return nil
}
