package socket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/teleport-go/teleport/internal/loopback"
	"github.com/teleport-go/teleport/utils"
)

// framesOf packs n small pulls into one stream.
func framesOf(t *testing.T, n int) []byte {
	t.Helper()
	var rw pipeRW
	proto := NewFastProtoFunc(&rw)
	for i := 1; i <= n; i++ {
		p := NewPacket(WithSeq(uint64(i)), WithPtype(1), WithUri("/a/b"), WithBodyCodec('s'), WithBody([]byte("body")))
		if err := proto.Pack(p); err != nil {
			t.Fatal(err)
		}
	}
	return rw.Bytes()
}

// TestReadAheadOverFaultyReaders reads a stream of frames through the
// socket's read-ahead buffer over readers that return little at a time or
// fail: every frame arrives whole, in order, and an error after the
// buffered bytes is still reported.
func TestReadAheadOverFaultyReaders(t *testing.T) {
	stream := framesOf(t, 50)
	tests := []struct {
		name string
		r    func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"data with the error", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, size := range []int{64, DefaultReadBufferSize} {
			t.Run(tt.name, func(t *testing.T) {
				var ra readAhead
				ra.reset(tt.r(bytes.NewReader(stream)), size)
				proto := NewFastProtoFunc(struct {
					io.Reader
					io.Writer
				}{&ra, io.Discard})
				p := NewPacket(WithNewBody(func(Header) interface{} { return new([]byte) }))
				for i := 1; i <= 50; i++ {
					if i%2 == 0 { // as a read loop does between frames
						if err := ra.wait(); err != nil {
							t.Fatalf("wait before frame %d: %v", i, err)
						}
					}
					if err := proto.Unpack(p); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if p.Seq() != uint64(i) || string(*p.Body().(*[]byte)) != "body" {
						t.Fatalf("frame %d read as %s", i, p)
					}
				}
				if err := ra.wait(); err != io.EOF {
					t.Fatalf("waiting after the last frame: %v, want io.EOF", err)
				}
				if ra.pooled != nil || ra.data != nil {
					t.Fatal("a buffer is held by a reader waiting for more")
				}
			})
		}
	}
}

// TestIdleSocketHoldsNoReadBuffer: once the frames that arrived are read,
// a socket waiting for its next frame (WaitRead) has given its read buffer
// back, so that a connection waiting costs no buffer.
func TestIdleSocketHoldsNoReadBuffer(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	s := NewSocket(b).(*socket)
	stream := framesOf(t, 3)
	go func() {
		_, _ = a.Write(stream)
		a.Close() // the wait below ends, rather than blocks
	}()
	p := NewPacket()
	for i := 0; i < 3; i++ {
		p.Reset()
		if err := s.ReadPacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitRead(); err != io.EOF {
		t.Fatalf("WaitRead after the last frame: %v, want io.EOF", err)
	}
	if s.ra.pooled != nil || s.ra.data != nil {
		t.Fatal("the waiting socket holds a read buffer")
	}
}

// TestReadBufferFollowsBatches: a connection whose reads fill the
// read-ahead buffer reads the next batch into a larger one, up to
// maxReadGrow classes, so that a burst of frames costs fewer system calls;
// once reads use a quarter of the buffer or less, it shrinks back.
func TestReadBufferFollowsBatches(t *testing.T) {
	const base = 1 << 10
	tests := []struct {
		name    string
		arrive  []int // bytes waiting before each fill
		classes []uint8
	}{
		{"full reads grow it to the top class", []int{base, 2 * base, 4 * base, 8 * base, 8 * base}, []uint8{1, 2, 3, 3, 3}},
		{"small reads keep the base size", []int{100, 100, 200}, []uint8{0, 0, 0}},
		{"small reads after a burst shrink it", []int{base, 2 * base, 100, 100, 100}, []uint8{1, 2, 1, 0, 0}},
		{"half a buffer keeps the class", []int{base, base}, []uint8{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conn chunkReader
			var ra readAhead
			ra.reset(&conn, base)
			defer ra.release()
			for i, n := range tt.arrive {
				size := base // the buffer this fill reads into
				if i > 0 {
					size = base << tt.classes[i-1]
				}
				conn.left = n
				if err := ra.fill(); err != nil {
					t.Fatal(err)
				}
				if got := ra.Buffered(); got != min(n, size) || len(ra.data) != size {
					t.Fatalf("fill %d: %d bytes buffered of %d", i, got, n)
				}
				if ra.grow != tt.classes[i] {
					t.Fatalf("fill %d of %d bytes: class %d, want %d", i, n, ra.grow, tt.classes[i])
				}
				ra.r = ra.w // consumed
			}
		})
	}
}

// TestGrownReadBufferNotHeldByAStall: once batches have grown the read
// buffer, a peer that sends the start of a small frame and stalls makes
// the rest wait in a base-size buffer, not the grown one; and a wait that
// ends with nothing drops the growth.
func TestGrownReadBufferNotHeldByAStall(t *testing.T) {
	const base = 1 << 10
	grown := func(t *testing.T) (*readAhead, *chunkReader) {
		conn := new(chunkReader)
		ra := new(readAhead)
		ra.reset(conn, base)
		for _, n := range []int{base, 2 * base, 4 * base} {
			conn.left = n
			if err := ra.fill(); err != nil {
				t.Fatal(err)
			}
			ra.r = ra.w
		}
		if ra.grow != 3 {
			t.Fatalf("class %d after full reads, want 3", ra.grow)
		}
		return ra, conn
	}
	t.Run("the rest of a frame", func(t *testing.T) {
		ra, conn := grown(t)
		defer ra.release()
		conn.left = 1 // all the peer sends of a 500-byte rest
		n, err := ra.Read(make([]byte, 500))
		if n != 1 || err != nil {
			t.Fatalf("read %d, %v", n, err)
		}
		if conn.lastLen != base {
			t.Fatalf("the rest was read into %d bytes, want the base %d", conn.lastLen, base)
		}
	})
	t.Run("a wait that ends with nothing", func(t *testing.T) {
		ra, conn := grown(t)
		defer ra.release()
		conn.err = os.ErrDeadlineExceeded
		if err := ra.fill(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("fill: %v", err)
		}
		if ra.grow != 0 || ra.data != nil {
			t.Fatalf("after an empty wait: class %d, buffer held %v", ra.grow, ra.data != nil)
		}
	})
}

// chunkReader returns up to left zero bytes per Read, as a socket returns
// what has arrived, then err; it records the size of the last buffer it
// was given.
type chunkReader struct {
	left    int
	err     error
	lastLen int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.lastLen = len(p)
	n := min(len(p), c.left)
	c.left -= n
	if n == 0 {
		return 0, c.err
	}
	return n, nil
}

// TestDeclaredSizeReservesLittle: a head declaring a frame of 1 GiB followed
// by a few bytes makes the frame buffer grow with what arrived, not with the
// declared size.
func TestDeclaredSizeReservesLittle(t *testing.T) {
	for _, arrived := range []int{0, 100, 40 << 10} {
		buf := utils.AcquireByteBuffer()
		_, err := readFrameRest(bytes.NewReader(make([]byte, arrived)), buf, 1<<30, nil)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("err = %v, want ErrTruncated", err)
		}
		if limit := max(4*arrived, firstReadStep); cap(buf.B) > limit {
			t.Fatalf("%d bytes arrived of a declared 1 GiB: buffer of %d bytes, want at most %d", arrived, cap(buf.B), limit)
		}
		utils.ReleaseByteBuffer(buf)
	}
}

// TestUnknownReplyCodecStillRoutes: a frame whose body codec is unknown is
// handed to the NewBodyFunc like any other (that is where a reply finds its
// pull), and only then reported as a body error.
func TestUnknownReplyCodecStillRoutes(t *testing.T) {
	frame := handFrame{seq: 9, ptype: 2, uri: "/a", bodyCodec: 0xEE, body: "x"}.bytes(t)
	routed := false
	p := NewPacket(WithNewBody(func(h Header) interface{} {
		routed = h.Seq() == 9
		return new(string)
	}))
	err := NewFastProtoFunc(bytes.NewBuffer(frame)).Unpack(p)
	if !errors.Is(err, ErrUnknownBodyCodec) || !IsBodyError(err) {
		t.Fatalf("err = %v, want a body error ErrUnknownBodyCodec", err)
	}
	if !routed {
		t.Fatal("the NewBodyFunc was not called for the unknown codec")
	}
}

// TestWriteTimeoutCountsFromTheBlockedWrite: writers queued behind a write
// blocked on a peer that does not read do not push its deadline back; it
// fails a write timeout after it began.
func TestWriteTimeoutCountsFromTheBlockedWrite(t *testing.T) {
	a, b := net.Pipe() // b is never read
	defer a.Close()
	defer b.Close()
	s := NewSocket(a).(*socket)
	const timeout = 300 * time.Millisecond
	s.SetWriteTimeout(timeout)
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a writer queuing a frame every 50 ms
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = s.WritePacket(NewPacket(WithUri("/later")))
			}
		}
	}()
	err := s.WritePacket(NewPacket(WithUri("/first")))
	close(stop)
	wg.Wait()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if took := time.Since(start); took > timeout+700*time.Millisecond {
		t.Fatalf("the blocked write failed after %v, want about %v", took, timeout)
	}
}

// TestFillAndReadTimeoutSafe: Fill brings every byte that arrived into one
// pooled buffer, and a busy reader may wait with a deadline only on the
// connections where a timed-out read leaves them usable.
func TestFillAndReadTimeoutSafe(t *testing.T) {
	c, srv := loopback.TCPPair(t)
	s := NewSocket(srv).(*socket)
	if !s.ReadTimeoutSafe() {
		t.Fatal("a TCP socket says a timed-out read is unsafe")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if NewSocket(a).(*socket).ReadTimeoutSafe() {
		t.Fatal("a pipe socket says a timed-out read is safe")
	}

	// A timed-out Fill leaves the connection usable.
	_ = srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if err := s.Fill(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Fill with nothing sent: %v, want a timeout", err)
	}
	_ = srv.SetReadDeadline(time.Time{})
	if _, err := c.Write(framesOf(t, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Fill(); err != nil {
		t.Fatal(err)
	}
	if s.Buffered() == 0 || s.ra.pooled == nil {
		t.Fatalf("Fill buffered %d bytes, pooled buffer %v", s.Buffered(), s.ra.pooled != nil)
	}
	for i := 1; i <= 3; i++ {
		p := NewPacket(WithNewBody(func(Header) interface{} { return new([]byte) }))
		if err := s.ReadPacket(p); err != nil || p.Seq() != uint64(i) {
			t.Fatalf("frame %d: seq %d, %v", i, p.Seq(), err)
		}
	}
}

// TestWriteTimeoutMeansNoProgress: the write timeout fails a write the
// connection takes nothing of for that long, not one that takes longer
// while the reader keeps taking bytes (a slow link, a large batch).
func TestWriteTimeoutMeansNoProgress(t *testing.T) {
	const (
		timeout = 200 * time.Millisecond
		body    = 4 << 20
		chunk   = 64 << 10
	)
	tests := []struct {
		name      string
		readUpTo  int // bytes the reader takes, 64 KiB every 10 ms; then it stops
		wantError bool
	}{
		// About 0.65 s for the whole frame, more than three timeouts.
		{"slow reader taking everything", body + 1<<10, false},
		{"reader that stops after 1 MiB", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := loopback.TCPPair(t)
			// Small buffers, so that the write waits for the reader (but
			// above loopback's 64 KiB segments: a receive buffer smaller
			// than a segment reopens its window only on the sender's
			// probes, 200 ms apart).
			_ = srv.SetWriteBuffer(64 << 10)
			_ = c.SetReadBuffer(128 << 10)
			s := NewSocket(srv).(*socket)
			s.SetWriteTimeout(timeout)
			stalled := make(chan time.Time, 1)
			go func() {
				buf := make([]byte, chunk)
				for got := 0; got < tt.readUpTo; {
					n, err := io.ReadFull(c, buf[:min(chunk, tt.readUpTo-got)])
					got += n
					if err != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				stalled <- time.Now()
			}()
			err := s.WritePacket(NewPacket(WithUri("/big"), WithBodyCodec('s'), WithBody(strings.Repeat("x", body))))
			failed := time.Now()
			if !tt.wantError {
				if err != nil {
					t.Fatalf("a write the reader kept taking failed: %v", err)
				}
				return
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("err = %v, want a timeout", err)
			}
			select {
			case at := <-stalled:
				// The timeout, at most a quarter late (see writeSteps).
				if took := failed.Sub(at); took > timeout*5/4+400*time.Millisecond {
					t.Fatalf("the write failed %v after the reader stopped, want about %v", took, timeout)
				}
			default:
				t.Fatal("the write failed before the reader stopped")
			}
		})
	}
}

// TestOutsideDeadlineEndsAWrite: a deadline set on the connection other
// than by the write timeout ends a blocked write at once, as net.Conn's
// does, though the write timeout would let it go on: through the
// socket's SetDeadline, or on the connection itself after the timeout was
// removed mid-write (which once made the write retry at once, forever).
func TestOutsideDeadlineEndsAWrite(t *testing.T) {
	tests := []struct {
		name string
		// cut sets the deadline, 200 ms into a write blocked on a peer
		// that does not read.
		cut func(s *socket, raw *net.TCPConn)
	}{
		{"Socket.SetDeadline", func(s *socket, _ *net.TCPConn) { _ = s.SetDeadline(time.Now()) }},
		{"the connection's own, the timeout removed", func(s *socket, raw *net.TCPConn) {
			s.SetWriteTimeout(0)
			time.Sleep(300 * time.Millisecond) // a step passes: the write goes on without a deadline
			_ = raw.SetWriteDeadline(time.Now())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := loopback.TCPPair(t) // never read
			s := NewSocket(srv).(*socket)
			s.SetWriteTimeout(800 * time.Millisecond) // steps of 200 ms
			done := make(chan error, 1)
			go func() {
				_, err := sockIO{s}.Write(make([]byte, 16<<20))
				done <- err
			}()
			time.Sleep(200 * time.Millisecond)
			tt.cut(s, srv)
			cut := time.Now()
			select {
			case err := <-done:
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("err = %v, want a timeout", err)
				}
				if took := time.Since(cut); took > 500*time.Millisecond {
					t.Fatalf("the write ended %v after the deadline", took)
				}
			case <-time.After(3 * time.Second):
				srv.Close()
				<-done
				t.Fatal("the write went on past the deadline")
			}
		})
	}
}
