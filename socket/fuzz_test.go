package socket

import (
	"bytes"
	"testing"

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
