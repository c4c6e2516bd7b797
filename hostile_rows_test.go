package tp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// Rows of the catalog: every malformed frame of SPEC §1.2, bodies and URIs
// a handler must survive, and other protocols spoken to the server.

// addPull is a well-formed pull of /home/test_add.
func addPull(seq uint64) rawPayload {
	return rawPayload{seq: seq, ptype: TypePull, uri: "/home/test_add", codec: 'j', body: []byte("[1,2]")}
}

// closesRow is a row whose input must make the server close the
// connection within closeBound; what the server may have sent before is
// ignored.
func closesRow(name string, input func(t *testing.T) []byte) hostileRow {
	return hostileRow{name: name, bound: closeBound, heap: heapSmall, run: func(t *testing.T, e *hostileEnv) {
		c := e.dial(t)
		_ = c.send(input(t)) // the server may close before it has read all
		c.closedWithin(t, e.bound)
	}}
}

// answersRow is a row whose frame must be answered within replyBound with
// the given code, on a connection that then goes on serving.
func answersRow(name string, frame []byte, seq uint64, code int32) hostileRow {
	return hostileRow{name: name, bound: replyBound, heap: heapSmall, run: func(t *testing.T, e *hostileEnv) {
		c := e.dial(t)
		if err := c.send(frame); err != nil {
			t.Fatal(err)
		}
		if r := c.reply(t, seq, e.bound); r.code() != code {
			t.Fatalf("reply to seq %d: code %d (%q), want %d", seq, r.code(), r.meta.Get(MetaRerrorKey), code)
		}
		stillServes(t, c, e.bound)
	}}
}

// ignoredRow is a row whose frame must get no answer, on a connection that
// goes on serving: the next frame from the server answers the next pull.
func ignoredRow(name string, frame []byte) hostileRow {
	return hostileRow{name: name, bound: replyBound, heap: heapSmall, run: func(t *testing.T, e *hostileEnv) {
		c := e.dial(t)
		if err := c.send(frame); err != nil {
			t.Fatal(err)
		}
		stillServes(t, c, e.bound)
	}}
}

// stillServes pulls on a raw connection and checks that the next frame is
// the answer.
func stillServes(t *testing.T, c *rawConn, d time.Duration) {
	t.Helper()
	const seq = 1 << 40
	if err := c.send(pullFrame(seq, "/home/test_add", "[4,5]")); err != nil {
		t.Fatalf("the connection no longer takes pulls: %v", err)
	}
	r, err := c.next(d)
	if err != nil {
		t.Fatalf("the connection no longer answers: %v", err)
	}
	if r.ptype != TypeReply || r.seq != seq || r.code() != 0 || string(r.body) != "9" {
		t.Fatalf("the next frame: type %d seq %d code %d body %q; want the reply 9 to seq %d", r.ptype, r.seq, r.code(), r.body, seq)
	}
}

// withPacketSizeLimit lowers the packet size limit for the row.
func withPacketSizeLimit(t *testing.T, n uint32) {
	socket.SetPacketSizeLimit(n)
	t.Cleanup(func() { socket.SetPacketSizeLimit(0) })
}

// bytesPull is a pull of /home/bytes with a string-codec body, making a
// frame of exactly size bytes.
func bytesPull(seq uint64, size int) []byte {
	p := rawPayload{seq: seq, ptype: TypePull, uri: "/home/bytes", codec: 's'}
	p.body = bytes.Repeat([]byte{'b'}, size-6-len(p.bytes()))
	return rawFrame{payload: p.bytes()}.bytes()
}

var frameRows = []hostileRow{
	closesRow("size below the minimum", func(*testing.T) []byte {
		return rawFrame{size: u32(socket.MinFrameSize - 1), payload: make([]byte, 17)}.bytes()
	}),
	closesRow("size zero", func(*testing.T) []byte { return []byte{0, 0, 0, 0} }),
	closesRow("size one past the packet size limit", func(*testing.T) []byte {
		return rawFrame{size: u32(socket.PacketSizeLimit() + 1), payload: addPull(1).bytes()}.bytes()
	}),
	closesRow("size 4 GiB-1", func(*testing.T) []byte { return []byte{0xff, 0xff, 0xff, 0xff, 'f', 0} }),
	{
		name: "frames at and past a lowered limit", bound: closeBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			const limit = 64 << 10
			withPacketSizeLimit(t, limit)
			c := e.dial(t)
			if err := c.send(bytesPull(1, limit)); err != nil {
				t.Fatal(err)
			}
			if r := c.reply(t, 1, replyBound); r.code() != 0 || len(r.body) != limit-6-len(rawPayload{uri: "/home/bytes"}.bytes()) {
				t.Fatalf("a frame at the limit: code %d, %d bytes back", r.code(), len(r.body))
			}
			_ = c.send(bytesPull(2, limit+1))
			c.closedWithin(t, e.bound)
		},
	},
	closesRow("wrong proto id", func(*testing.T) []byte {
		return rawFrame{proto: 'g', payload: addPull(1).bytes()}.bytes()
	}),
	closesRow("unknown filter id", func(*testing.T) []byte {
		return rawFrame{xferIds: []byte{0xEE}, payload: addPull(1).bytes()}.bytes()
	}),
	closesRow("failing filter: gzip of no gzip", func(*testing.T) []byte {
		return rawFrame{xferIds: []byte{'g'}, payload: []byte("this is not a gzip stream at all")}.bytes()
	}),
	closesRow("failing filter: gzip cut in half", func(*testing.T) []byte {
		p := addPull(1)
		p.body = []byte(`"` + strings.Repeat("compress me ", 200) + `"`)
		z := gzipBytes(p.bytes())
		return rawFrame{xferIds: []byte{'g'}, payload: z[:len(z)/2]}.bytes()
	}),
	closesRow("filter ids past the end", func(*testing.T) []byte {
		n := byte(255)
		return rawFrame{xferCount: &n, payload: make([]byte, 18)}.bytes()
	}),
	closesRow("payload shorter than its fixed fields", func(*testing.T) []byte {
		return rawFrame{xferIds: []byte{'g'}, payload: gzipBytes([]byte("short"))}.bytes()
	}),
	{
		name: "stream ends inside the head", bound: closeBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			if err := c.send([]byte{0, 0, 0}); err != nil {
				t.Fatal(err)
			}
			c.halfClose(t)
			c.closedWithin(t, e.bound)
		},
	},
	{
		name: "stream ends inside a frame", bound: closeBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			if err := c.send(rawFrame{size: u32(1000), payload: make([]byte, 100)}.bytes()); err != nil {
				t.Fatal(err)
			}
			c.halfClose(t)
			c.closedWithin(t, e.bound)
		},
	},
	closesRow("uri length past the end", func(*testing.T) []byte {
		p := addPull(1)
		p.uriLen = u32(math.MaxUint32)
		return rawFrame{payload: p.bytes()}.bytes()
	}),
	closesRow("uri length eating the meta length", func(*testing.T) []byte {
		p := addPull(1)
		// One byte more than leaves room for meta length and codec id.
		p.uriLen = u32(uint32(len(p.uri) + len(p.body) + 1))
		return rawFrame{payload: p.bytes()}.bytes()
	}),
	closesRow("meta length past the end", func(*testing.T) []byte {
		p := addPull(1)
		p.metaLen = u32(math.MaxUint32)
		return rawFrame{payload: p.bytes()}.bytes()
	}),
	closesRow("meta length eating the codec id", func(*testing.T) []byte {
		p := addPull(1)
		p.meta = "k=v"
		p.metaLen = u32(uint32(len(p.meta) + 1 + len(p.body)))
		return rawFrame{payload: p.bytes()}.bytes()
	}),
	closesRow("bad escape in metadata", func(*testing.T) []byte {
		p := addPull(1)
		p.meta = "k=%zz"
		return rawFrame{payload: p.bytes()}.bytes()
	}),
	answersRow("unknown body codec", func() []byte {
		p := addPull(7)
		p.codec = 0xEE
		return rawFrame{payload: p.bytes()}.bytes()
	}(), 7, CodeBadPacket),
	answersRow("undecodable JSON body", pullFrame(7, "/home/test_add", `{"unterminated`), 7, CodeBadPacket),
	answersRow("JSON body of the wrong type", pullFrame(7, "/home/test_add", `"a string"`), 7, CodeBadPacket),
	answersRow("protobuf junk for a JSON argument", func() []byte {
		p := addPull(7)
		p.codec, p.body = 'p', []byte{0xff, 0xff, 0xff, 0xff}
		return rawFrame{payload: p.bytes()}.bytes()
	}(), 7, CodeBadPacket),
	answersRow("JSON nested 100 000 deep", pullFrame(7, "/home/test_add", strings.Repeat("[", 100000)), 7, CodeBadPacket),
	ignoredRow("unknown packet type", func() []byte {
		p := addPull(7)
		p.ptype = 9
		return rawFrame{payload: p.bytes()}.bytes()
	}()),
	ignoredRow("packet type 0", func() []byte {
		p := addPull(7)
		p.ptype = TypeUndefined
		return rawFrame{payload: p.bytes()}.bytes()
	}()),
	ignoredRow("reply to no pull", func() []byte {
		p := addPull(77)
		p.ptype = TypeReply
		return rawFrame{payload: p.bytes()}.bytes()
	}()),
	answersRow("largest seq and an empty uri", pullFrame(math.MaxUint64, "", "[1,2]"), math.MaxUint64, CodeNotFound),
	answersRow("uri with ..", pullFrame(7, "/home/../home/test_add", "[1,2]"), 7, CodeNotFound),
	answersRow("uri with NUL", pullFrame(7, "/home/test_add\x00/x", "[1,2]"), 7, CodeNotFound),
	answersRow("uri of invalid UTF-8", pullFrame(7, "/home/\xff\xfe\xfd", "[1,2]"), 7, CodeNotFound),
	answersRow("query with bad escapes", pullFrame(7, "/home/ctx?%zz&a=%ff&%=%%", "{}"), 7, 0),
	{
		name: "1 MiB uri", bound: replyBound, heap: 32 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			frame := pullFrame(7, "/home/"+strings.Repeat("u", 1<<20), "[1,2]")
			e.measureFromHere()
			if err := c.send(frame); err != nil {
				t.Fatal(err)
			}
			if r := c.reply(t, 7, e.bound); r.code() != CodeNotFound {
				t.Fatalf("code %d, want %d", r.code(), CodeNotFound)
			}
			stillServes(t, c, e.bound)
		},
	},
	{
		name: "uri over half a lowered limit, to an unknown route", bound: replyBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			// The 404 must not repeat the whole URI in its detail, or
			// the reply would pass the limit and never be sent.
			withPacketSizeLimit(t, 64<<10)
			c := e.dial(t)
			if err := c.send(pullFrame(7, "/home/"+strings.Repeat("u", 40<<10), "[1,2]")); err != nil {
				t.Fatal(err)
			}
			if r := c.reply(t, 7, e.bound); r.code() == 0 {
				t.Fatalf("a pull of an unknown route answered without an error")
			}
		},
	},
	{
		name: "pulls in 1-byte writes", bound: 5 * time.Second, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			frames := append(pullFrame(1, "/home/test_add", "[20,22]"), pullFrame(2, "/home/echo", `"one byte at a time"`)...)
			for i := range frames {
				if err := c.send(frames[i : i+1]); err != nil {
					t.Fatal(err)
				}
			}
			if r := c.reply(t, 1, e.bound); r.code() != 0 || string(r.body) != "42" {
				t.Fatalf("first pull: code %d body %q", r.code(), r.body)
			}
			if r := c.reply(t, 2, e.bound); r.code() != 0 || string(r.body) != `"one byte at a time"` {
				t.Fatalf("second pull: code %d body %q", r.code(), r.body)
			}
		},
	},
}

var foreignRows = []hostileRow{
	closesRow("garbage", func(t *testing.T) []byte {
		b := make([]byte, 4096)
		rand.New(rand.NewSource(11)).Read(b)
		if size := binary.BigEndian.Uint32(b); b[4] == 'f' && size >= socket.MinFrameSize && size <= socket.PacketSizeLimit() {
			t.Fatal("the garbage starts like a frame: pick another seed")
		}
		return b
	}),
	closesRow("HTTP request", func(*testing.T) []byte {
		return []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n")
	}),
	closesRow("HTTP/2 preface", func(*testing.T) []byte { return []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") }),
	{
		name: "TLS ClientHello", bound: closeBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			ctx, cancel := context.WithTimeout(context.Background(), e.bound)
			defer cancel()
			start := time.Now()
			tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true})
			if err := tc.HandshakeContext(ctx); err == nil {
				t.Fatal("a TLS handshake with a plain-text server succeeded")
			}
			if ctx.Err() != nil {
				t.Fatalf("the handshake was still waiting after %v", e.bound)
			}
			c.closedWithin(t, e.bound-time.Since(start))
		},
	},
	{
		name: "goaway from a client", bound: closeBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			// The server takes it for its remote peer closing: it drains
			// the session, which has nothing in flight, and closes it.
			c := e.dial(t)
			p := rawPayload{seq: 1, ptype: TypePush, uri: goawayUri}
			if err := c.send(rawFrame{payload: p.bytes()}.bytes()); err != nil {
				t.Fatal(err)
			}
			c.closedWithin(t, e.bound)
		},
	},
}
