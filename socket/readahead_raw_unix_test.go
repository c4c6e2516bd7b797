//go:build unix

package socket

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/loopback"
)

// TestRawFillWaitsWithoutABuffer: on a plain TCP connection, a fill that
// finds nothing to read gives its buffer back before it waits, and takes
// one again only once bytes are there, so a reader lingering on a quiet
// connection holds no read buffer.
func TestRawFillWaitsWithoutABuffer(t *testing.T) {
	c, srv := loopback.TCPPair(t)
	var b readAhead
	b.reset(srv, 4096)
	defer b.release()
	if b.raw.rc == nil {
		t.Fatal("a plain TCP connection is not read raw")
	}
	rc, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	_ = rc.Control(func(f uintptr) { fd = f })
	if b.readFD(fd) || b.pooled != nil || b.data != nil {
		t.Fatalf("with nothing to read: buffer held %v", b.pooled != nil)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := b.fill(); err != nil {
		t.Fatal(err)
	}
	if b.pooled == nil || string(b.data[b.r:b.w]) != "hello" {
		t.Fatalf("after the bytes came: %q, buffer held %v", b.data[b.r:b.w], b.pooled != nil)
	}
}

// TestRawFillErrors: what a raw fill returns when the stream ends, the
// deadline passes, the connection is closed here, or the peer resets it:
// the errors the connection's own Read returns, as the read loop expects.
func TestRawFillErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(c, srv *net.TCPConn)
		check func(error) bool
	}{
		{"peer closed", func(c, _ *net.TCPConn) { c.Close() }, func(err error) bool { return err == io.EOF }},
		{"deadline", func(_, srv *net.TCPConn) { _ = srv.SetReadDeadline(time.Now().Add(10 * time.Millisecond)) }, func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
		{"closed here", func(_, srv *net.TCPConn) {
			time.AfterFunc(10*time.Millisecond, func() { srv.Close() })
		}, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"reset by peer", func(c, _ *net.TCPConn) { _ = c.SetLinger(0); c.Close() }, func(err error) bool {
			var oe *net.OpError
			return errors.Is(err, syscall.ECONNRESET) && errors.As(err, &oe) && oe.Op == "read"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := loopback.TCPPair(t)
			var b readAhead
			b.reset(srv, 4096)
			tt.fault(c, srv)
			err := b.fill()
			if !tt.check(err) {
				t.Fatalf("fill: %v (%T)", err, err)
			}
			if b.pooled != nil {
				t.Fatal("a failed fill holds a buffer")
			}
			if oe, ok := err.(*net.OpError); ok && oe.Op != "read" {
				t.Fatalf("op %q, want read", oe.Op)
			}
		})
	}
}
