package socket

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/internal/sizelimit"
	"github.com/teleport-go/teleport/xfer"
)

// handFrame builds a fast-protocol frame field by field from the layout in
// PROTOCOL.md, independently of the encoder under test.
type handFrame struct {
	xferIds   []byte
	seq       uint64
	ptype     byte
	uri       string
	meta      string // already escaped
	bodyCodec byte
	body      string
}

func (h handFrame) payload() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, h.seq)
	b.WriteByte(h.ptype)
	binary.Write(&b, binary.BigEndian, uint32(len(h.uri)))
	b.WriteString(h.uri)
	binary.Write(&b, binary.BigEndian, uint32(len(h.meta)))
	b.WriteString(h.meta)
	b.WriteByte(h.bodyCodec)
	b.WriteString(h.body)
	return b.Bytes()
}

func (h handFrame) bytes(t testing.TB) []byte {
	payload := h.payload()
	for _, id := range h.xferIds {
		if id != 'g' {
			t.Fatalf("handFrame knows only gzip, got %q", id)
		}
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, xfer.GzipLevel)
		w.Write(payload)
		w.Close()
		payload = z.Bytes()
	}
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(4+1+1+len(h.xferIds)+len(payload)))
	b.WriteByte('f')
	b.WriteByte(byte(len(h.xferIds)))
	b.Write(h.xferIds)
	b.Write(payload)
	return b.Bytes()
}

// rawBody keeps the body bytes as they were sent, whatever the codec.
func rawBody(h Header) interface{} {
	if h.(*Packet).BodyCodec() == codec.IdJSON {
		return new(json.RawMessage)
	}
	return new([]byte)
}

func rawBodyString(body interface{}) string {
	switch b := body.(type) {
	case *json.RawMessage:
		return string(*b)
	case *[]byte:
		return string(*b)
	}
	return fmt.Sprintf("unexpected body %T", body)
}

// pipeRW is an in-memory io.ReadWriter: writes append, reads consume.
type pipeRW struct{ bytes.Buffer }

func TestFastProtoMatchesHandBuiltFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame handFrame
		pack  []PacketSetting
		want  func(t *testing.T, p *Packet)
	}{
		{
			name:  "empty",
			frame: handFrame{},
			pack:  nil,
		},
		{
			name: "pull with json body and escaped metadata",
			frame: handFrame{
				seq: 1, ptype: 1, uri: "/home/test_add?x=1",
				meta:      "a%20b=c%26d&key=v%3D1%25&%E4%BD%A0=%2F%3F",
				bodyCodec: 'j', body: "[1,2]",
			},
			pack: []PacketSetting{
				WithSeq(1), WithPtype(1), WithUri("/home/test_add?x=1"),
				WithAddMeta("a b", "c&d"), WithAddMeta("key", "v=1%"), WithAddMeta("你", "/?"),
				WithBodyCodec('j'), WithBody([]int{1, 2}),
			},
			want: func(t *testing.T, p *Packet) {
				if got := string(p.Meta().Peek("a b")); got != "c&d" {
					t.Errorf(`meta "a b" = %q, want "c&d"`, got)
				}
				if got := string(p.Meta().Peek("你")); got != "/?" {
					t.Errorf(`meta "你" = %q, want "/?"`, got)
				}
			},
		},
		{
			name: "gzip filtered push with string body",
			frame: handFrame{
				xferIds: []byte{'g'}, seq: 1<<63 + 5, ptype: 3, uri: "/push/status",
				meta: "x=1", bodyCodec: 's', body: strings.Repeat("hello teleport ", 40),
			},
			pack: []PacketSetting{
				WithSeq(1<<63 + 5), WithPtype(3), WithUri("/push/status"), WithSetMeta("x", "1"),
				WithXferPipe('g'), WithBodyCodec('s'), WithBody(strings.Repeat("hello teleport ", 40)),
			},
		},
		{
			name: "two gzip layers and a reply without body",
			frame: handFrame{
				xferIds: []byte{'g', 'g'}, seq: 7, ptype: 2, uri: "/a",
				meta: "X-Reply-Error=%7B%22code%22%3A404%7D",
			},
			pack: []PacketSetting{
				WithSeq(7), WithPtype(2), WithUri("/a"), WithXferPipe('g', 'g'),
				WithSetMeta("X-Reply-Error", `{"code":404}`),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.frame.bytes(t)

			var rw pipeRW
			out := NewPacket(tt.pack...)
			if err := NewFastProtoFunc(&rw).Pack(out); err != nil {
				t.Fatalf("Pack: %v", err)
			}
			if !bytes.Equal(rw.Bytes(), want) {
				t.Fatalf("Pack wrote\n%q\nwant\n%q", rw.Bytes(), want)
			}
			if out.Size() != uint32(len(want)) {
				t.Errorf("Size after Pack = %d, want %d", out.Size(), len(want))
			}

			in := NewPacket(WithNewBody(rawBody))
			if err := NewFastProtoFunc(bytes.NewBuffer(want)).Unpack(in); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			f := tt.frame
			if in.Seq() != f.seq || in.Ptype() != f.ptype || in.Uri() != f.uri ||
				in.Meta().String() != f.meta || in.BodyCodec() != f.bodyCodec ||
				rawBodyString(in.Body()) != f.body || string(in.XferPipe().Ids()) != string(f.xferIds) ||
				in.Size() != uint32(len(want)) {
				t.Fatalf("Unpack got %s\nwant %+v", in, f)
			}
			if tt.want != nil {
				tt.want(t, in)
			}
		})
	}
}

func TestUnpackHostileFrames(t *testing.T) {
	valid := handFrame{seq: 1, ptype: 1, uri: "/a", meta: "k=v", bodyCodec: 'j', body: "1"}.bytes(t)
	withSize := func(b []byte, size uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b, size)
		return b
	}
	resize := func(b []byte) []byte { return withSize(b, uint32(len(b))) }
	// frameAt returns valid with the bytes from off replaced by tail and the
	// size field made consistent.
	frameAt := func(off int, tail ...byte) []byte {
		return resize(append(bytes.Clone(valid[:off]), tail...))
	}
	gz := func(data []byte) []byte {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		return z.Bytes()
	}
	const (
		offUriLen  = 6 + 8 + 1
		offMetaLen = offUriLen + 4 + 2
		offCodec   = offMetaLen + 4 + 3
	)
	tests := []struct {
		name    string
		in      []byte
		limit   uint32
		wantErr error
		wantMsg string
	}{
		{"empty stream", nil, 0, io.EOF, ""},
		{"size cut short", valid[:2], 0, ErrTruncated, "after 2 of 6 bytes"},
		{"head cut after the size", valid[:4], 0, ErrTruncated, "after 4 of 6 bytes"},
		{"head cut after the proto id", valid[:5], 0, ErrTruncated, "after 5 of 6 bytes"},
		{"size below minimum", withSize(valid, 23), 0, ErrFrameTooSmall, "23 < 24"},
		{"size zero", withSize(valid, 0), 0, ErrFrameTooSmall, "0 < 24"},
		{"size over limit", withSize(valid, 1<<20+1), 1 << 20, ErrExceedPacketSizeLimit, "1048577 > 1048576"},
		{"size max uint32", withSize(valid, 0xffffffff), 0, ErrExceedPacketSizeLimit, "4294967295"},
		{"frame shorter than its size", withSize(valid, uint32(len(valid)+10)), 0, ErrTruncated, "ended after"},
		{"declared 64 MiB, sent 30 bytes", withSize(valid, 64<<20), 0, ErrTruncated, "ended after"},
		// The fifth byte came with the size: the protocol id is the
		// clearer refusal.
		{"an HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, ErrProtoId, `'/'`},
		{"an HTTP request's first 4 bytes", []byte("GET "), 0, ErrExceedPacketSizeLimit, `"GET "`},
		{"an HTTP request under a larger limit", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0xffffffff, ErrProtoId, `'/'`},
		{"a TLS client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, 0, ErrProtoId, `'\x00'`},
		{"wrong proto id", frameAt(4, append([]byte{'x'}, valid[5:]...)...), 0, ErrProtoId, `'x'`},
		{"unknown filter id", frameAt(5, append([]byte{1, 0xEE}, valid[6:]...)...), 0, ErrXfer, "unknown filter"},
		{"filter ids past the end", frameAt(5, append([]byte{200}, valid[6:]...)...), 0, ErrTruncated, "200 filter ids"},
		{"gzip of garbage", frameAt(5, append([]byte{1, 'g'}, valid[6:]...)...), 0, ErrXfer, "gzip"},
		{"gzip inflating to a short payload", frameAt(5, append([]byte{1, 'g'}, gz([]byte{1, 2, 3})...)...), 0, ErrTruncated, "payload of 3 bytes"},
		{"gzip bomb", frameAt(5, append([]byte{1, 'g'}, gz(make([]byte, 4<<20))...)...), 1 << 20, ErrXfer, "exceeds the packet size limit"},
		{"uri length past the end", frameAt(offUriLen, 0xff, 0xff, 0xff, 0xf0, '/', 'a', 0, 0, 0, 0, 0), 0, ErrTruncated, "uri length 4294967280"},
		{"uri length eats the codec byte", frameAt(offUriLen, 0, 0, 0, 7, '/', 'a', 0, 0, 0, 0, 0), 0, ErrTruncated, "uri length 7"},
		{"meta length past the end", frameAt(offMetaLen, 0x7f, 0xff, 0xff, 0xff, 'k', '=', 'v', 'j'), 0, ErrTruncated, "meta length 2147483647"},
		{"meta length eats the codec byte", frameAt(offMetaLen, 0, 0, 0, 4, 'k', '=', 'v', 'j'), 0, ErrTruncated, "meta length 4"},
		{"bad meta escape", frameAt(offMetaLen, 0, 0, 0, 3, 'k', '=', '%', 'j', '1'), 0, ErrBadMeta, "escape"},
		{"unknown body codec", frameAt(offCodec, 0xEE, '1'), 0, ErrUnknownBodyCodec, "id 238"},
		{"body without codec", frameAt(offCodec, 0, '1'), 0, ErrUnknownBodyCodec, "without a codec id"},
		{"body the codec cannot decode", frameAt(offCodec, 'j', '{'), 0, ErrUnmarshalBody, "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.limit != 0 {
				SetPacketSizeLimit(tt.limit)
				defer SetPacketSizeLimit(0)
			}
			p := GetPacket(WithNewBody(func(Header) interface{} { return new(int) }))
			defer PutPacket(p)
			err := NewFastProtoFunc(bytes.NewBuffer(tt.in)).Unpack(p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Unpack error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Unpack error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
	if sizelimit.Get() != sizelimit.Default {
		t.Fatal("size limit not restored")
	}
}

func TestPackErrors(t *testing.T) {
	tests := []struct {
		name    string
		p       *Packet
		limit   uint32
		wantErr error
		wantMsg string
	}{
		{"over the size limit", NewPacket(WithBodyCodec('s'), WithBody(make([]byte, 100))), 64, ErrExceedPacketSizeLimit, "> 64 bytes"},
		{"unregistered body codec", NewPacket(WithBodyCodec(0xEE), WithBody(1)), 0, nil, "unsupported codec id 238"},
		{"body the codec rejects", NewPacket(WithBodyCodec(codec.IdProtobuf), WithBody(1)), 0, nil, "not a proto.Message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.limit != 0 {
				SetPacketSizeLimit(tt.limit)
				defer SetPacketSizeLimit(0)
			}
			var rw pipeRW
			err := NewFastProtoFunc(&rw).Pack(tt.p)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Pack error = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
			if rw.Len() != 0 {
				t.Fatalf("Pack wrote %d bytes after failing", rw.Len())
			}
		})
	}
}

// A body error leaves the stream in step: the next frame reads fine.
func TestBodyErrorKeepsStreamInStep(t *testing.T) {
	bad := handFrame{seq: 1, ptype: 1, uri: "/a", bodyCodec: 'j', body: "{"}.bytes(t)
	good := handFrame{seq: 2, ptype: 1, uri: "/b", bodyCodec: 'j', body: "5"}.bytes(t)
	proto := NewFastProtoFunc(bytes.NewBuffer(append(bad, good...)))
	p := NewPacket(WithNewBody(func(Header) interface{} { return new(int) }))
	if err := proto.Unpack(p); !IsBodyError(err) {
		t.Fatalf("first Unpack error = %v, want a body error", err)
	}
	p.Reset(WithNewBody(func(Header) interface{} { return new(int) }))
	if err := proto.Unpack(p); err != nil {
		t.Fatalf("second Unpack: %v", err)
	}
	if p.Seq() != 2 || *p.Body().(*int) != 5 {
		t.Fatalf("second frame decoded as %s", p)
	}
}

// TestUnpackRefusesSizeOnItsFourBytes: a declared size out of bounds is
// refused as soon as the 4 size bytes are in, while the sender still holds
// the connection open without sending more.
func TestUnpackRefusesSizeOnItsFourBytes(t *testing.T) {
	tests := []struct {
		name    string
		size    uint32
		wantErr error
	}{
		{"zero", 0, ErrFrameTooSmall},
		{"one below the minimum", MinFrameSize - 1, ErrFrameTooSmall},
		{"over the limit", sizelimit.Default + 1, ErrExceedPacketSizeLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w := io.Pipe()
			defer r.Close()
			go func() {
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], tt.size)
				_, _ = w.Write(b[:]) // and nothing more until the reader is closed
			}()
			errCh := make(chan error, 1)
			go func() {
				p := GetPacket()
				defer PutPacket(p)
				errCh <- NewFastProtoFunc(struct {
					io.Reader
					io.Writer
				}{r, io.Discard}).Unpack(p)
			}()
			select {
			case err := <-errCh:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Unpack error = %v, want %v", err, tt.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Unpack waited for more than the 4 size bytes")
			}
		})
	}
}
