package tp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// Frames built and read by hand, field by field from socket/PROTOCOL.md,
// so that the hostile tests can send what no encoder writes and read
// replies without trusting the decoder under test.

// rawPayload is the payload of a frame before its filters. uriLen and
// metaLen, when set, are written instead of the true lengths.
type rawPayload struct {
	seq     uint64
	ptype   byte
	uri     string
	uriLen  *uint32
	meta    string // already escaped
	metaLen *uint32
	codec   byte
	body    []byte
}

func (p rawPayload) bytes() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, p.seq)
	b.WriteByte(p.ptype)
	uriLen := uint32(len(p.uri))
	if p.uriLen != nil {
		uriLen = *p.uriLen
	}
	binary.Write(&b, binary.BigEndian, uriLen)
	b.WriteString(p.uri)
	metaLen := uint32(len(p.meta))
	if p.metaLen != nil {
		metaLen = *p.metaLen
	}
	binary.Write(&b, binary.BigEndian, metaLen)
	b.WriteString(p.meta)
	b.WriteByte(p.codec)
	b.Write(p.body)
	return b.Bytes()
}

func u32(n uint32) *uint32 { return &n }

// rawFrame is a whole frame: head and the payload as sent (filters already
// applied). size and xferCount, when set, are written instead of the true
// values; proto 0 is 'f'.
type rawFrame struct {
	size      *uint32
	proto     byte
	xferCount *byte
	xferIds   []byte
	payload   []byte
}

func (f rawFrame) bytes() []byte {
	size := uint32(4 + 1 + 1 + len(f.xferIds) + len(f.payload))
	if f.size != nil {
		size = *f.size
	}
	proto := f.proto
	if proto == 0 {
		proto = 'f'
	}
	n := byte(len(f.xferIds))
	if f.xferCount != nil {
		n = *f.xferCount
	}
	b := binary.BigEndian.AppendUint32(nil, size)
	b = append(b, proto, n)
	b = append(b, f.xferIds...)
	return append(b, f.payload...)
}

// pullFrame is a plain pull of uri with a JSON body.
func pullFrame(seq uint64, uri string, jsonBody string) []byte {
	return rawFrame{payload: rawPayload{seq: seq, ptype: TypePull, uri: uri, codec: 'j', body: []byte(jsonBody)}.bytes()}.bytes()
}

// gzipBytes compresses b into one complete gzip member.
func gzipBytes(b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

// rawReply is a frame read back from a peer.
type rawReply struct {
	seq   uint64
	ptype byte
	uri   string
	meta  url.Values
	codec byte
	body  []byte
}

// code is the reply's X-Reply-Error code, 0 when it has none.
func (r rawReply) code() int32 {
	v := r.meta.Get(MetaRerrorKey)
	if v == "" {
		return 0
	}
	var e struct {
		Code int32 `json:"code"`
	}
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return -1
	}
	return e.Code
}

// readRawFrame reads one frame, undoing gzip layers.
func readRawFrame(r io.Reader) (rawReply, error) {
	var head [6]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return rawReply{}, err
	}
	size := binary.BigEndian.Uint32(head[:])
	if head[4] != 'f' || size < 24 || size > 64<<20 {
		return rawReply{}, fmt.Errorf("bad frame head % x", head)
	}
	rest := make([]byte, size-6)
	if _, err := io.ReadFull(r, rest); err != nil {
		return rawReply{}, err
	}
	ids, data := rest[:head[5]], rest[head[5]:]
	for _, id := range ids {
		if id != 'g' {
			return rawReply{}, fmt.Errorf("filter %q in a reply", id)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return rawReply{}, err
		}
		if data, err = io.ReadAll(zr); err != nil {
			return rawReply{}, err
		}
	}
	var rep rawReply
	if len(data) < 18 {
		return rep, fmt.Errorf("payload of %d bytes", len(data))
	}
	rep.seq = binary.BigEndian.Uint64(data)
	rep.ptype = data[8]
	n := binary.BigEndian.Uint32(data[9:])
	data = data[13:]
	if uint64(n)+5 > uint64(len(data)) {
		return rep, errors.New("uri past the end")
	}
	rep.uri, data = string(data[:n]), data[n:]
	n = binary.BigEndian.Uint32(data)
	data = data[4:]
	if uint64(n)+1 > uint64(len(data)) {
		return rep, errors.New("meta past the end")
	}
	var err error
	if rep.meta, err = url.ParseQuery(string(data[:n])); err != nil {
		return rep, err
	}
	rep.codec, rep.body = data[n], data[n+1:]
	return rep, nil
}

// rawConn is a connection written and read by hand, by one goroutine.
type rawConn struct {
	net.Conn
	br *bufio.Reader
	// early holds the replies read while looking for another: handlers
	// run concurrently, so replies may come in any order.
	early map[uint64]rawReply
}

func newRawConn(c net.Conn) *rawConn {
	return &rawConn{Conn: c, br: bufio.NewReader(c), early: map[uint64]rawReply{}}
}

// send writes b within 5 seconds. A server that closed the connection
// makes it fail: hostile rows expecting that ignore the error.
func (c *rawConn) send(b []byte) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write(b)
	return err
}

// next reads the next frame within d.
func (c *rawConn) next(d time.Duration) (rawReply, error) {
	c.SetReadDeadline(time.Now().Add(d))
	return readRawFrame(c.br)
}

// reply returns the reply of seq, reading frames within d until it comes;
// other replies are kept for later calls.
func (c *rawConn) reply(t *testing.T, seq uint64, d time.Duration) rawReply {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if r, ok := c.early[seq]; ok {
			delete(c.early, seq)
			return r
		}
		r, err := c.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("no reply to seq %d within %v (%d other replies came): %v", seq, d, len(c.early), err)
		}
		if r.ptype == TypeReply {
			c.early[r.seq] = r
		}
	}
}

// closedWithin reads (and drops) whatever comes until the connection ends;
// it fails the test when it is still open after d.
func (c *rawConn) closedWithin(t *testing.T, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	if isTimeout(err) {
		t.Fatalf("the server left the connection open for %v", d)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the connection ended with %v, want EOF or a reset", err)
	}
}

// openFor checks that nothing arrives and the connection stays open for d.
func (c *rawConn) openFor(t *testing.T, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	n, err := c.br.Read(make([]byte, 1))
	if n > 0 || !isTimeout(err) {
		t.Fatalf("within %v: read %d bytes, %v; want silence", d, n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// halfClose shuts the sending side of c down.
func (c *rawConn) halfClose(t *testing.T) {
	t.Helper()
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T cannot half-close", c.Conn)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
}
