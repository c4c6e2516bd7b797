package runner

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/rpc"

	"github.com/teleport-go/teleport/bench/pb"
)

// The net/rpc frame: size uint32 (of what follows), seq uint64, text length
// uint16, text (the service method in a request, the error in a response),
// protobuf body; big-endian.
const (
	rpcFixedLen = 4 + 8 + 2
	maxText     = 1 << 10
)

// protoCodec is the framing and protobuf marshalling shared by the net/rpc
// client and server codecs. net/rpc serialises writes per connection and
// reads from one goroutine, so the codec needs no lock of its own.
type protoCodec struct {
	rwc io.ReadWriteCloser
	br  *bufio.Reader
	bw  *bufio.Writer

	wbuf []byte // owned by the writing goroutine
	rbuf []byte // owned by the reading goroutine; the current body
	hdr  [rpcFixedLen]byte
}

func newProtoCodec(rwc io.ReadWriteCloser) *protoCodec {
	return &protoCodec{rwc: rwc, br: bufio.NewReader(rwc), bw: bufio.NewWriter(rwc)}
}

// write frames seq, text and body and flushes: net/rpc has no notion of
// batching, and a baseline should show its stock behaviour.
func (c *protoCodec) write(seq uint64, text string, body pb.VTMessage) error {
	if len(text) > maxText {
		return fmt.Errorf("runner: net/rpc text of %d bytes over the limit", len(text))
	}
	c.wbuf = append(c.wbuf[:0], zeroRPCHeader[:]...)
	c.wbuf = append(c.wbuf, text...)
	if body != nil {
		var err error
		if c.wbuf, err = pb.AppendMarshal(c.wbuf, body); err != nil {
			return err
		}
	}
	binary.BigEndian.PutUint32(c.wbuf[0:4], uint32(len(c.wbuf)-4))
	binary.BigEndian.PutUint64(c.wbuf[4:12], seq)
	binary.BigEndian.PutUint16(c.wbuf[12:14], uint16(len(text)))
	if _, err := c.bw.Write(c.wbuf); err != nil {
		return err
	}
	return c.bw.Flush()
}

var zeroRPCHeader [rpcFixedLen]byte

// read reads one frame, returning its seq and text and keeping the body
// in c.rbuf for readBody.
func (c *protoCodec) read() (seq uint64, text string, err error) {
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		return 0, "", err
	}
	size := binary.BigEndian.Uint32(c.hdr[0:4])
	seq = binary.BigEndian.Uint64(c.hdr[4:12])
	tlen := int(binary.BigEndian.Uint16(c.hdr[12:14]))
	if size < rpcFixedLen-4 || size > maxBody {
		return 0, "", fmt.Errorf("%w: %d bytes", errBodyTooLarge, size)
	}
	rest := int(size) - (rpcFixedLen - 4)
	if tlen > maxText || tlen > rest {
		return 0, "", errors.New("runner: net/rpc text length past the frame")
	}
	if c.rbuf, err = readBody(c.br, c.rbuf, rest); err != nil {
		return 0, "", err
	}
	// The text is short and rare (method name, error), so copying it out
	// is cheaper than keeping the frame alive.
	text = string(c.rbuf[:tlen])
	c.rbuf = c.rbuf[tlen:]
	return seq, text, nil
}

func (c *protoCodec) readBody(body any) error {
	b := c.rbuf
	c.rbuf = c.rbuf[len(c.rbuf):]
	if body == nil {
		return nil
	}
	m, ok := body.(pb.VTMessage)
	if !ok {
		return fmt.Errorf("runner: net/rpc body %T has no generated vtproto code", body)
	}
	return pb.Unmarshal(b, m)
}

// netrpcClientCodec implements rpc.ClientCodec.
type netrpcClientCodec struct{ *protoCodec }

// WriteRequest implements rpc.ClientCodec.
func (c netrpcClientCodec) WriteRequest(r *rpc.Request, body any) error {
	m, ok := body.(pb.VTMessage)
	if !ok {
		return fmt.Errorf("runner: net/rpc args %T has no generated vtproto code", body)
	}
	return c.write(r.Seq, r.ServiceMethod, m)
}

// ReadResponseHeader implements rpc.ClientCodec.
func (c netrpcClientCodec) ReadResponseHeader(r *rpc.Response) error {
	seq, text, err := c.read()
	if err != nil {
		return err
	}
	r.Seq, r.Error = seq, text
	return nil
}

// ReadResponseBody implements rpc.ClientCodec.
func (c netrpcClientCodec) ReadResponseBody(body any) error { return c.readBody(body) }

// Close implements rpc.ClientCodec.
func (c netrpcClientCodec) Close() error { return c.rwc.Close() }

// netrpcServerCodec implements rpc.ServerCodec.
type netrpcServerCodec struct{ *protoCodec }

// ReadRequestHeader implements rpc.ServerCodec.
func (c netrpcServerCodec) ReadRequestHeader(r *rpc.Request) error {
	seq, text, err := c.read()
	if err != nil {
		return err
	}
	r.Seq, r.ServiceMethod = seq, text
	return nil
}

// ReadRequestBody implements rpc.ServerCodec.
func (c netrpcServerCodec) ReadRequestBody(body any) error { return c.readBody(body) }

// WriteResponse implements rpc.ServerCodec.
func (c netrpcServerCodec) WriteResponse(r *rpc.Response, body any) error {
	var m pb.VTMessage
	switch b := body.(type) {
	case *NetRPCReply:
		m = b.Msg
	case pb.VTMessage:
		m = b
	}
	// On an error net/rpc passes a placeholder body; send none.
	if r.Error != "" {
		m = nil
	}
	return c.write(r.Seq, r.Error, m)
}

// Close implements rpc.ServerCodec.
func (c netrpcServerCodec) Close() error { return c.rwc.Close() }

var (
	_ rpc.ClientCodec = netrpcClientCodec{}
	_ rpc.ServerCodec = netrpcServerCodec{}
)
