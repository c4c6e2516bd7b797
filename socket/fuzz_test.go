package socket

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/teleport-go/teleport/utils"
)

// fuzzLimit keeps the fuzzer's frames small, so a declared size cannot make
// a run slow, while still exercising the limit checks.
const fuzzLimit = 1 << 16

// FuzzUnpack feeds arbitrary bytes to the fast protocol: it must return a
// packet or an error, never panic, and never hold more than the limit.
func FuzzUnpack(f *testing.F) {
	for _, h := range []handFrame{
		{},
		{seq: 1, ptype: 1, uri: "/home/test_add?x=1", meta: "a+b=c%26d", bodyCodec: 'j', body: "[1,2]"},
		{xferIds: []byte{'g'}, seq: 2, ptype: 3, uri: "/p", meta: "k=v", bodyCodec: 's', body: "hello"},
		{seq: 3, ptype: 2, uri: "/r", meta: "X-Reply-Error=%7B%7D", bodyCodec: 'p', body: "\x0a\x02OK"},
	} {
		f.Add(h.bytes(f))
	}
	f.Add([]byte{0, 0, 0, 24, 'f', 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	SetPacketSizeLimit(fuzzLimit)
	defer SetPacketSizeLimit(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		proto := NewFastProtoFunc(bytes.NewBuffer(data))
		p := GetPacket()
		defer PutPacket(p)
		for range 4 { // a few frames in a row, as a stream would carry
			p.Reset(WithNewBody(rawBody))
			if err := proto.Unpack(p); err != nil {
				return
			}
			if p.Size() > fuzzLimit || p.Size() < MinFrameSize {
				t.Fatalf("accepted a frame of %d bytes", p.Size())
			}
		}
	})
}

// FuzzPackUnpack builds packets from arbitrary fields: what Pack writes,
// Unpack must read back unchanged.
func FuzzPackUnpack(f *testing.F) {
	f.Add(uint64(1), byte(1), "/home/test_add?x=1", "a b", "c&d", byte('s'), []byte("body"), false)
	f.Add(uint64(0), byte(0), "", "", "", byte(0), []byte(nil), true)
	f.Add(uint64(1<<63), byte(3), "/你好", "%", "=&+", byte('s'), bytes.Repeat([]byte{0}, 300), true)
	f.Fuzz(func(t *testing.T, seq uint64, ptype byte, uri, key, value string, codecId byte, body []byte, gzip bool) {
		var rw loopRW
		proto := NewFastProtoFunc(&rw)
		out := NewPacket(WithSeq(seq), WithPtype(ptype), WithUri(uri), WithAddMeta(key, value))
		if len(body) > 0 {
			out.SetBodyCodec('s')
			out.SetBody(body)
		} else {
			out.SetBodyCodec(codecId)
		}
		if gzip {
			out.XferPipe().Append('g')
		}
		if err := proto.Pack(out); err != nil {
			t.Fatalf("Pack: %v", err)
		}
		in := NewPacket(WithNewBody(func(Header) interface{} { return new([]byte) }))
		if err := proto.Unpack(in); err != nil {
			t.Fatalf("Unpack of a packed frame: %v", err)
		}
		var wantMeta utils.Args
		wantMeta.Add(key, value)
		if in.Seq() != seq || in.Ptype() != ptype || in.Uri() != uri || in.Size() != out.Size() ||
			in.Meta().String() != wantMeta.String() || string(in.Meta().Peek(key)) != value ||
			!bytes.Equal(*in.Body().(*[]byte), body) || in.XferPipe().Len() != out.XferPipe().Len() {
			t.Fatalf("round trip changed the packet:\n sent %s\n got  %s", out, in)
		}
		if rw.Len() != 0 {
			t.Fatalf("%d bytes left after one frame", rw.Len())
		}
	})
}

// chunkConn is an in-memory net.Conn whose reads return its data in chunks
// of the sizes chunks gives, so that a frame arrives split anywhere, as it
// may over TCP. With dataErr, the last chunk comes with io.EOF, as
// iotest.DataErrReader returns it. Writes are discarded.
type chunkConn struct {
	data    []byte
	chunks  func() int
	dataErr bool
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(len(c.data), c.chunks())])
	c.data = c.data[n:]
	if c.dataErr && len(c.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (c *chunkConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *chunkConn) Close() error                     { return nil }
func (c *chunkConn) LocalAddr() net.Addr              { return fuzzAddr{} }
func (c *chunkConn) RemoteAddr() net.Addr             { return fuzzAddr{} }
func (c *chunkConn) SetDeadline(time.Time) error      { return nil }
func (c *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *chunkConn) SetWriteDeadline(time.Time) error { return nil }

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "fuzz" }
func (fuzzAddr) String() string  { return "fuzz" }

// fuzzChunks returns the chunk sizes seed chooses: its low 3 bits pick the
// largest chunk, its high 5 bits seed a xorshift drawing sizes up to it.
func fuzzChunks(seed byte) func() int {
	largest := [8]int{1 << 30, 1, 2, 3, 7, 16, 64, 4 << 10}[seed&7]
	x := uint32(seed)>>3 | 1
	return func() int {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return 1 + int(x%uint32(largest))
	}
}

// FuzzSocketRead feeds arbitrary bytes through a real Socket, over a
// connection whose reads split them where the first input byte says
// (its top bit also decides whether the last bytes come with io.EOF):
// ReadPacket must never panic nor accept a frame out of the size bounds,
// and every frame it accepts must Pack and Unpack back to the same packet.
func FuzzSocketRead(f *testing.F) {
	for _, h := range []handFrame{
		{},
		{seq: 1, ptype: 1, uri: "/home/test_add?x=1", meta: "a+b=c%26d", bodyCodec: 'j', body: "[1,2]"},
		{xferIds: []byte{'g'}, seq: 2, ptype: 3, uri: "/p", meta: "k=v&e&=", bodyCodec: 's', body: "hello"},
	} {
		for _, chunking := range []byte{0, 1, 0x80 | 4, 0x55} {
			f.Add(append([]byte{chunking}, h.bytes(f)...))
		}
	}
	frames, err := filepath.Glob(filepath.Join(conformanceDir, "frames", "*.bin"))
	if err != nil || len(frames) == 0 {
		f.Fatalf("no v3.0 frames: %v", err)
	}
	var all []byte
	for i, name := range frames {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(i * 37)}, b...))
		all = append(all, b...)
	}
	f.Add(append([]byte{2}, all...)) // a stream of v3.0 frames
	SetPacketSizeLimit(fuzzLimit)
	defer SetPacketSizeLimit(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		conn := &chunkConn{data: data[1:], chunks: fuzzChunks(data[0]), dataErr: data[0]&0x80 != 0}
		s := NewSocket(conn)
		defer s.Close()
		p := GetPacket()
		defer PutPacket(p)
		for range 4 {
			p.Reset(WithNewBody(func(Header) interface{} { return new(RawBody) }))
			if err := s.ReadPacket(p); err != nil {
				if IsBodyError(err) {
					t.Fatalf("a RawBody body refused: %v", err)
				}
				return
			}
			if p.Size() > fuzzLimit || p.Size() < MinFrameSize {
				t.Fatalf("accepted a frame of %d bytes", p.Size())
			}
			checkRepack(t, p)
		}
	})
}

// checkRepack packs p and unpacks the frame: every field must come back.
// It does so under the default size limit, since our frame of a packet read
// may be larger than the one read: metadata bytes sent unescaped (or a
// space as '+') are written as %XX, and gzip layers get a final block and
// trailer where v3.0 writes none.
func checkRepack(t *testing.T, p *Packet) {
	t.Helper()
	SetPacketSizeLimit(0)
	defer SetPacketSizeLimit(fuzzLimit)
	var rw loopRW
	proto := NewFastProtoFunc(&rw)
	if err := proto.Pack(p); err != nil {
		t.Fatalf("Pack of an accepted packet %s: %v", p, err)
	}
	q := NewPacket(WithNewBody(func(Header) interface{} { return new(RawBody) }))
	if err := proto.Unpack(q); err != nil {
		t.Fatalf("Unpack of our own frame of %s: %v", p, err)
	}
	if q.Seq() != p.Seq() || q.Ptype() != p.Ptype() || q.Uri() != p.Uri() ||
		q.BodyCodec() != p.BodyCodec() || !bytes.Equal(q.XferPipe().Ids(), p.XferPipe().Ids()) ||
		!slices.Equal(metaPairs(q.Meta()), metaPairs(p.Meta())) ||
		!bytes.Equal(*q.Body().(*RawBody), *p.Body().(*RawBody)) {
		t.Fatalf("re-packed packet differs:\n read %s\n back %s", p, q)
	}
	if rw.Len() != 0 {
		t.Fatalf("%d bytes left after one frame", rw.Len())
	}
}

// metaPairs lists the pairs of a, unescaped, each as key NUL value.
func metaPairs(a *utils.Args) []string {
	var pairs []string
	a.VisitAll(func(k, v []byte) { pairs = append(pairs, string(k)+"\x00"+string(v)) })
	return pairs
}
