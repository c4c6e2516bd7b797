// Command custom_proto shows a user-defined socket.Proto: JSON lines, one
// packet per line,
//
//	{"seq":1,"ptype":1,"uri":"/math/add","meta":"k=v","codec":106,"body":"WzEsMiwzXQ=="}
//
// where codec is the body codec id as a number and body the encoded body in
// base64. Transfer filters, when a packet has any, apply to the body only and
// are named in an "xfer" list. Both ends must use the protocol: the server
// passes it to Serve, the client to Dial. The program prints one frame, then
// pulls and pushes over the protocol in both directions.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/xfer"
)

// The JSON lines protocol's identity and limit.
const (
	JSONLinesProtoId   byte   = 'J'
	JSONLinesProtoName string = "jsonlines"
	// MaxLineLen bounds a line, newline included, read or written.
	MaxLineLen = 1 << 20
)

// ErrLineTooLong is returned by Unpack for a line longer than MaxLineLen;
// the stream is then out of step and the connection is closed.
var ErrLineTooLong = errors.New("jsonlines: line too long")

// line is one packet on the wire.
type line struct {
	Seq   uint64   `json:"seq"`
	Ptype byte     `json:"ptype"`
	Uri   string   `json:"uri"`
	Meta  string   `json:"meta,omitempty"`
	Codec byte     `json:"codec"`
	Xfer  []string `json:"xfer,omitempty"`
	Body  []byte   `json:"body,omitempty"`
}

// jsonLinesProto implements socket.Proto over one connection.
type jsonLinesProto struct {
	// wmu guards every write to w, so that lines never interleave.
	wmu sync.Mutex
	w   io.Writer

	// Owned by the single caller of Unpack.
	r   *bufio.Reader
	buf []byte
}

// It reads through a bufio.Reader, so it can hold whole lines the socket
// has handed it: it says how many bytes, as a socket.BufferedProto, so
// that the peer unpacks them at once rather than wait for the network.
var _ socket.BufferedProto = (*jsonLinesProto)(nil)

// NewJSONLinesProto is the socket.ProtoFunc of the JSON lines protocol.
func NewJSONLinesProto(rw io.ReadWriter) socket.Proto {
	return &jsonLinesProto{w: rw, r: bufio.NewReader(rw)}
}

// Buffered returns how many bytes the line reader holds, read from the
// connection and not yet unpacked.
func (j *jsonLinesProto) Buffered() int { return j.r.Buffered() }

// Version returns the protocol id and name.
func (j *jsonLinesProto) Version() (byte, string) { return JSONLinesProtoId, JSONLinesProtoName }

// Pack encodes p as one line outside any lock, then writes it with one Write
// under wmu. Errors raised before writing wrap the socket package's pack
// errors, so the session knows the connection is still usable.
func (j *jsonLinesProto) Pack(p *socket.Packet) error {
	body, err := p.MarshalBody()
	if err != nil {
		return fmt.Errorf("%w of %q: %w", socket.ErrMarshalBody, p.Uri(), err)
	}
	l := line{Seq: p.Seq(), Ptype: p.Ptype(), Uri: p.Uri(), Meta: p.Meta().String(), Codec: p.BodyCodec()}
	if pipe := p.XferPipe(); pipe.Len() > 0 {
		if body, err = pipe.OnPack(body); err != nil {
			return fmt.Errorf("%w: %w", socket.ErrXfer, err)
		}
		l.Xfer = pipe.Names()
	}
	l.Body = body
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep meta and URIs readable: & stays &
	if err := enc.Encode(&l); err != nil {
		return fmt.Errorf("%w of %q: %w", socket.ErrMarshalBody, p.Uri(), err)
	}
	if b.Len() > MaxLineLen {
		return fmt.Errorf("%w: line of %d bytes > %d (uri %q)", socket.ErrExceedPacketSizeLimit, b.Len(), MaxLineLen, p.Uri())
	}
	if err := p.SetSize(uint32(b.Len())); err != nil {
		return err
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	_, err = j.w.Write(b.Bytes()) // Encode ended the line with '\n'
	return err
}

// Unpack reads one line and decodes it into p: the header first, since the
// packet's NewBodyFunc chooses the body object from it, then the body.
func (j *jsonLinesProto) Unpack(p *socket.Packet) error {
	b, err := j.readLine()
	if err != nil {
		return err
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("jsonlines: bad line: %w", err)
	}
	if err := p.SetSize(uint32(len(b))); err != nil {
		return err
	}
	p.SetSeq(l.Seq)
	p.SetPtype(l.Ptype)
	p.SetUri(l.Uri)
	if err := p.Meta().Parse(l.Meta); err != nil {
		return fmt.Errorf("jsonlines: bad meta %q: %w", l.Meta, err)
	}
	p.SetBodyCodec(l.Codec)
	pipe := p.XferPipe()
	pipe.Reset()
	for _, name := range l.Xfer {
		f, err := xfer.GetByName(name)
		if err != nil {
			return fmt.Errorf("%w: %w", socket.ErrXfer, err)
		}
		if err := pipe.Append(f.Id()); err != nil {
			return fmt.Errorf("%w: %w", socket.ErrXfer, err)
		}
	}
	body := l.Body
	if pipe.Len() > 0 {
		if body, err = pipe.OnUnpack(body); err != nil {
			return fmt.Errorf("%w: %w", socket.ErrXfer, err)
		}
	}
	// A body error wraps socket.ErrUnmarshalBody or ErrUnknownBodyCodec:
	// the line was read whole, so the session answers it and goes on.
	return p.UnmarshalNewBody(body)
}

// readLine returns the next line without its newline, valid until the next
// call. It never buffers more than MaxLineLen bytes.
func (j *jsonLinesProto) readLine() ([]byte, error) {
	j.buf = j.buf[:0]
	for {
		frag, err := j.r.ReadSlice('\n')
		if len(j.buf)+len(frag) > MaxLineLen {
			return nil, fmt.Errorf("%w: over %d bytes", ErrLineTooLong, MaxLineLen)
		}
		j.buf = append(j.buf, frag...)
		switch {
		case err == nil:
			return j.buf[:len(j.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(j.buf) > 0:
			return nil, fmt.Errorf("jsonlines: line of %d bytes cut short: %w", len(j.buf), io.ErrUnexpectedEOF)
		default:
			return nil, err
		}
	}
}

// Math is the server's pull controller: Math.Add -> /math/add.
type Math struct {
	tp.PullCtx
}

// Add returns the sum of nums.
func (m *Math) Add(nums *[]int) (int, *tp.Rerror) {
	sum := 0
	for _, n := range *nums {
		sum += n
	}
	return sum, nil
}

// Chat is the push controller of both peers: Chat.Say -> /chat/say.
type Chat struct {
	tp.PushCtx
}

// said carries the pushes either peer got to run.
var said = make(chan string, 1)

// Say hands a push to run.
func (c *Chat) Say(msg *string) {
	said <- fmt.Sprintf("push %s %q", c.Uri(), *msg)
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custom_proto:", err)
		os.Exit(1)
	}
}

// run prints one frame of the protocol, then starts a server and a client
// that speak it, prints what they exchange, and closes both.
func run(out io.Writer) (err error) {
	// One frame, packed into a buffer and unpacked from it.
	var wire bytes.Buffer
	proto := NewJSONLinesProto(&wire)
	id, name := proto.Version()
	sample := socket.NewPacket(
		socket.WithSeq(1),
		socket.WithPtype(tp.TypePull),
		socket.WithUri("/math/add"),
		socket.WithQuery("note", "a&b"),
		socket.WithSetMeta("X-Trace-Id", "t 1"),
		socket.WithBody([]int{1, 2, 3}),
	)
	if err := proto.Pack(sample); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	fmt.Fprintf(out, "protocol %c %q, a pull on the wire: %s", id, name, wire.String())
	var nums []int
	back := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return &nums }))
	if err := proto.Unpack(back); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	fmt.Fprintf(out, "unpacked: seq=%d ptype=%d uri=%s meta=%s codec=%c body=%v\n",
		back.Seq(), back.Ptype(), back.Uri(), back.Meta(), back.BodyCodec(), nums)

	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	srv.PushRouter.Reg(new(Chat))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis, NewJSONLinesProto) }()
	defer func() {
		srv.Close()
		err = errors.Join(err, <-served)
	}()

	cli := tp.NewPeer(nil)
	defer cli.Close()
	cli.PushRouter.Reg(new(Chat))
	sess, rerr := cli.Dial(lis.Addr().String(), NewJSONLinesProto)
	if rerr != nil {
		return rerr.ToError()
	}

	var sum int
	cmd := sess.Pull("/math/add", []int{1, 2, 3, 4}, &sum)
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("pull /math/add: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "client pulled /math/add [1 2 3 4] -> %d (pull line of %d bytes)\n", sum, cmd.Output().Size())

	big := make([]int, 2000)
	for i := range big {
		big[i] = 1
	}
	cmd = sess.Pull("/math/add", big, &sum, socket.WithXferPipe(xfer.IdGzip))
	if rerr := cmd.Rerror(); rerr != nil {
		return fmt.Errorf("gzip pull /math/add: %w", rerr.ToError())
	}
	fmt.Fprintf(out, "client pulled /math/add with %d ones, body gzipped -> %d (pull line of %d bytes)\n", len(big), sum, cmd.Output().Size())

	rerr = sess.Pull("/math/missing", nil, nil).Rerror()
	if rerr == nil {
		return errors.New("pull /math/missing: no error, want code 404")
	}
	fmt.Fprintf(out, "client pulled /math/missing -> code %d %s\n", rerr.Code, rerr.Message)

	if rerr := sess.Push("/chat/say", "hello over JSON lines"); rerr != nil {
		return fmt.Errorf("push: %w", rerr.ToError())
	}
	if err := await(out, "server got"); err != nil {
		return err
	}
	var srvSess tp.Session
	srv.RangeSession(func(s tp.Session) bool { srvSess = s; return false })
	if srvSess == nil {
		return errors.New("server has no session")
	}
	if rerr := srvSess.Push("/chat/say", "hello back from the server"); rerr != nil {
		return fmt.Errorf("server push: %w", rerr.ToError())
	}
	return await(out, "client got")
}

// await prints the next push a Chat controller got, after who.
func await(out io.Writer, who string) error {
	select {
	case s := <-said:
		fmt.Fprintln(out, who, s)
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s no push", who)
	}
}
