package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

// frame returns the fast-protocol frame of a packet with a JSON body.
func frame(t testing.TB, ptype byte, seq uint64, uri string, body interface{}) []byte {
	t.Helper()
	var buf bytes.Buffer
	p := socket.NewPacket(socket.WithPtype(ptype), socket.WithSeq(seq), socket.WithUri(uri),
		socket.WithBody(body), socket.WithBodyCodec(codec.IdJSON))
	if err := socket.NewFastProtoFunc(&buf).Pack(p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawDial opens a WebSocket to url with coder/websocket itself, to send
// what a teleport peer never would.
func rawDial(t testing.TB, url string, opts *cws.DialOptions) *cws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := cws.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(-1)
	return c
}

// readClose reads from c until the server closes it, and returns the
// close status (-1: the connection ended without a close message). It may
// run on a goroutine of its own.
func readClose(t testing.TB, c *cws.Conn) cws.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Error("the server did not close the connection")
			}
			return cws.CloseStatus(err)
		}
	}
}

// TestHostileInput sends what a broken or hostile browser might: each case
// closes its own session, with the status given, and a well-behaved
// session of the same server goes on working.
func TestHostileInput(t *testing.T) {
	const limit = 64 << 10
	socket.SetPacketSizeLimit(limit)
	defer socket.SetPacketSizeLimit(0)

	watch := newAcceptWatch()
	srv := tp.NewPeer(nil, watch)
	srv.PullRouter.Reg(new(Math))
	url := serveWS(t, srv)
	cli := tp.NewPeer(nil)
	defer cli.Close()
	good, rerr := Dial(cli, url)
	if rerr != nil {
		t.Fatal(rerr)
	}
	watch.next(t)

	hugeHead := make([]byte, socket.MinFrameSize)
	binary.BigEndian.PutUint32(hugeHead, 1<<30) // far past the limit
	hugeHead[4] = socket.FastProtoId

	tests := []struct {
		name string
		send func(ctx context.Context, c *cws.Conn) error
		want cws.StatusCode
	}{
		{"text message", func(ctx context.Context, c *cws.Conn) error {
			return c.Write(ctx, cws.MessageText, frame(t, tp.TypePush, 1, "/note/say", "hi"))
		}, cws.StatusUnsupportedData},
		{"garbage", func(ctx context.Context, c *cws.Conn) error {
			return c.Write(ctx, cws.MessageBinary, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}, cws.StatusNormalClosure},
		{"frame size below the minimum", func(ctx context.Context, c *cws.Conn) error {
			b := frame(t, tp.TypePush, 1, "/note/say", "hi")
			binary.BigEndian.PutUint32(b, 5)
			return c.Write(ctx, cws.MessageBinary, b)
		}, cws.StatusNormalClosure},
		{"frame size over the limit", func(ctx context.Context, c *cws.Conn) error {
			return c.Write(ctx, cws.MessageBinary, hugeHead)
		}, cws.StatusNormalClosure},
		{"message over the read limit", func(ctx context.Context, c *cws.Conn) error {
			// Valid frames, but more of them in one message than the
			// limit allows: streamed, never held whole by either side.
			w, err := c.Writer(ctx, cws.MessageBinary)
			if err != nil {
				return err
			}
			f := frame(t, tp.TypePush, 1, "/note/say", string(bytes.Repeat([]byte("x"), 1000)))
			for n := 0; n <= 2*limit; n += len(f) {
				if _, err := w.Write(f); err != nil {
					return nil // the server closed first
				}
			}
			return w.Close()
		}, cws.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawDial(t, url, nil)
			bad := watch.next(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tt.send(ctx, c); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := readClose(t, c); got != tt.want {
				t.Errorf("close status %v, want %v", got, tt.want)
			}
			waitFor(t, "the bad session to close", func() bool { return !bad.IsOk() })
			var sum int
			if rerr := good.Pull("/math/add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
				t.Fatalf("the good session: %d, %v", sum, rerr)
			}
		})
	}
}

// TestMessageBoundaries checks that the server reads frames split across
// messages and several frames in one message, and sends each frame of its
// own as one message.
func TestMessageBoundaries(t *testing.T) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	c := rawDial(t, serveWS(t, srv), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	f1 := frame(t, tp.TypePull, 1, "/math/add", [2]int{1, 2})
	for _, part := range [][]byte{f1[:3], f1[3:10], f1[10:]} { // one frame, three messages
		if err := c.Write(ctx, cws.MessageBinary, part); err != nil {
			t.Fatal(err)
		}
	}
	f2 := frame(t, tp.TypePull, 2, "/math/add", [2]int{3, 4})
	f3 := frame(t, tp.TypePull, 3, "/math/add", [2]int{5, 6})
	if err := c.Write(ctx, cws.MessageBinary, append(f2, f3...)); err != nil { // two frames, one message
		t.Fatal(err)
	}
	want := map[uint64]int{1: 3, 2: 7, 3: 11}
	for range want {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != cws.MessageBinary || len(msg) < socket.MinFrameSize || binary.BigEndian.Uint32(msg) != uint32(len(msg)) {
			t.Fatalf("message is not one whole frame: type %v, % x", typ, msg)
		}
		p := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return new(int) }))
		if err := socket.NewFastProtoFunc(bytes.NewBuffer(msg)).Unpack(p); err != nil {
			t.Fatal(err)
		}
		got, ok := want[p.Seq()]
		if !ok || p.Ptype() != tp.TypeReply {
			t.Fatalf("unexpected packet %s", p)
		}
		if sum := *p.Body().(*int); sum != got {
			t.Errorf("seq %d: sum %d, want %d", p.Seq(), sum, got)
		}
		delete(want, p.Seq())
	}
}

// TestMessageLen covers where writes are cut into messages.
func TestMessageLen(t *testing.T) {
	f := frame(t, tp.TypePush, 1, "/a", "b")
	two := append(append([]byte(nil), f...), f...)
	notFast := append([]byte{0, 0, 0, 30, 'x'}, make([]byte, 40)...)
	for _, tt := range []struct {
		name  string
		p     []byte
		chunk int
		want  int
	}{
		{"one frame", f, 4, len(f)},
		{"two frames: the first", two, 4, len(f)},
		{"a partial frame: by chunk", f[:len(f)-1], 8, 8},
		{"another protocol: by chunk", notFast, 16, 16},
		{"short tail", f[:5], 16, 5},
		{"declared size below the minimum", append([]byte{0, 0, 0, 5, 'f'}, make([]byte, 30)...), 64, 35},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := messageLen(tt.p, tt.chunk); got != tt.want {
				t.Errorf("messageLen = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestStalledReader checks that a write timeout ends a session whose
// browser stopped reading, as on TCP: the blocked write fails and the
// session closes, within the timeout and the close handshake's bound.
func TestStalledReader(t *testing.T) {
	watch := newAcceptWatch()
	srv := tp.NewPeer(&tp.PeerConfig{DefaultWriteTimeout: 200 * time.Millisecond}, watch)
	url := serveWS(t, srv)
	rawDial(t, url, nil) // never reads
	sess := watch.next(t)
	big := bytes.Repeat([]byte("x"), 1<<20)
	start := time.Now()
	var rerr *tp.Rerror
	for i := 0; i < 1000 && rerr == nil; i++ { // the socket buffers fill within a few MiB
		rerr = sess.Push("/flood", big)
	}
	if rerr == nil || rerr.Code != tp.CodeWriteFailed {
		t.Fatalf("push to a stalled reader: %v, want CodeWriteFailed", rerr)
	}
	waitFor(t, "the session to close", func() bool { return !sess.IsOk() })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
