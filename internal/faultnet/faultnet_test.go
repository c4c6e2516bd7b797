package faultnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/loopback"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// transports make connected pairs: the first end is wrapped by the test.
var transports = []struct {
	name string
	pair func(t *testing.T) (net.Conn, net.Conn)
}{
	{"pipe", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	{"tcp", func(t *testing.T) (net.Conn, net.Conn) {
		d, a := loopback.TCPPair(t)
		return d, a
	}},
}

// readAll reads c until it fails, on its own goroutine, and delivers what
// it read and the error that ended it.
func readAll(c net.Conn) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		var r readResult
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			r.data = append(r.data, buf[:n]...)
			if n > 0 {
				r.reads = append(r.reads, n)
			}
			if err != nil {
				r.err = err
				ch <- r
				return
			}
		}
	}()
	return ch
}

type readResult struct {
	data  []byte
	reads []int // length of each non-empty read
	err   error
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

var payload = []byte("0123456789abcdefghijklmnopqrstuvwxyz")

// Short reads return at most ReadChunk bytes each, write chunks reach the
// other end in pieces of at most WriteChunk bytes, and nothing is lost.
func TestChunks(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		wrapRead bool // the wrapped end reads; else it writes
		max      int  // the longest read expected
	}{
		{"short reads of 1", Faults{ReadChunk: 1}, true, 1},
		{"short reads of 7", Faults{ReadChunk: 7}, true, 7},
		{"writes of 1", Faults{WriteChunk: 1}, false, 1},
		{"writes of 5", Faults{WriteChunk: 5}, false, 5},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				a, b := tr.pair(t)
				fa := Wrap(a, tt.faults)
				defer fa.Close()
				defer b.Close()
				reader, writer := net.Conn(b), net.Conn(fa)
				if tt.wrapRead {
					reader, writer = fa, b
				}
				got := readAll(reader)
				if n, err := writer.Write(payload); n != len(payload) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				writer.Close()
				r := recv(t, got, "the reader")
				if !bytes.Equal(r.data, payload) {
					t.Fatalf("read %q, want %q", r.data, payload)
				}
				for _, n := range r.reads {
					// TCP may merge writes, but never into more than one Read
					// of a short-reading conn; only the pipe keeps writes apart.
					if n > tt.max && (tt.wrapRead || tr.name == "pipe") {
						t.Fatalf("a read of %d bytes, want at most %d (reads %v)", n, tt.max, r.reads)
					}
				}
				if tt.wrapRead && fa.BytesRead() != int64(len(payload)) || !tt.wrapRead && fa.BytesWritten() != int64(len(payload)) {
					t.Fatalf("counted %d read, %d written", fa.BytesRead(), fa.BytesWritten())
				}
			})
		}
	}
}

// Fail and Cut fire at their byte, in each direction.
func TestFaultAtByte(t *testing.T) {
	custom := errors.New("custom failure")
	tests := []struct {
		name    string
		read    bool // the fault is on reads of the wrapped end
		fault   Fault
		wantErr func(error) bool
		// remoteEOF: the remote end sees the connection end after the
		// bytes that went through.
		remoteEOF bool
	}{
		{"read fail at 0", true, Fault{Kind: Fail}, isInjected, false},
		{"read fail at 5", true, Fault{Kind: Fail, At: 5}, isInjected, false},
		{"read fail with its own error", true, Fault{Kind: Fail, At: 5, Err: custom}, func(err error) bool { return err == custom }, false},
		{"read cut at 5", true, Fault{Kind: Cut, At: 5}, func(err error) bool { return err == io.EOF }, true},
		{"write fail at 0", false, Fault{Kind: Fail}, isInjected, false},
		{"write fail at 5", false, Fault{Kind: Fail, At: 5}, isInjected, false},
		{"write cut at 5", false, Fault{Kind: Cut, At: 5}, isInjected, true},
		{"write cut at 17", false, Fault{Kind: Cut, At: 17}, isInjected, true},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				a, b := tr.pair(t)
				var f Faults
				if tt.read {
					f.Read = tt.fault
				} else {
					f.Write = tt.fault
				}
				fa := Wrap(a, f)
				defer fa.Close()
				defer b.Close()
				if tt.read {
					written := make(chan error, 1)
					go func() {
						_, err := b.Write(payload)
						written <- err
					}()
					var got []byte
					buf := make([]byte, 3)
					var err error
					for err == nil {
						var n int
						n, err = fa.Read(buf)
						got = append(got, buf[:n]...)
					}
					if !tt.wantErr(err) || int64(len(got)) != tt.fault.At || !bytes.Equal(got, payload[:len(got)]) {
						t.Fatalf("read %q then %v; want %d bytes then the fault", got, err, tt.fault.At)
					}
					if _, err2 := fa.Read(buf); !tt.wantErr(err2) {
						t.Fatalf("a second read: %v, want the fault again", err2)
					}
					if tt.remoteEOF {
						// The remote write ends: a pipe fails it, TCP takes it.
						recv(t, written, "the remote write")
						// TCP resets a connection closed with unread bytes.
						if _, err := b.Read(buf); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
							t.Fatalf("remote read after the cut: %v, want EOF or a reset", err)
						}
						return
					}
					fa.Close()
					recv(t, written, "the remote write")
					return
				}
				got := readAll(b)
				n, err := fa.Write(payload)
				if int64(n) != tt.fault.At || !tt.wantErr(err) {
					t.Fatalf("Write = %d, %v; want %d and the fault", n, err, tt.fault.At)
				}
				if !tt.remoteEOF {
					fa.Close()
				}
				r := recv(t, got, "the remote reader")
				if !bytes.Equal(r.data, payload[:tt.fault.At]) {
					t.Fatalf("remote read %q, want %q", r.data, payload[:tt.fault.At])
				}
				if tt.remoteEOF && r.err != io.EOF {
					t.Fatalf("remote read ended with %v, want EOF", r.err)
				}
				if tt.fault.Kind == Cut {
					select {
					case <-fa.Closed():
					default:
						t.Fatal("a cut left the connection open")
					}
				}
			})
		}
	}
}

func isInjected(err error) bool { return errors.Is(err, ErrInjected) }

// A stall blocks its direction until Release, its deadline or Close.
func TestStall(t *testing.T) {
	tests := []struct {
		name string
		read bool
		// end ends the stall; wantErr checks the stalled call's result.
		end     func(c *Conn)
		wantErr func(error) bool
	}{
		{"write released", false, (*Conn).Release, func(err error) bool { return err == nil }},
		{"read released", true, (*Conn).Release, func(err error) bool { return err == nil }},
		{"write past its deadline", false, func(c *Conn) { c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond)) }, isTimeout},
		{"read past its deadline", true, func(c *Conn) { c.SetReadDeadline(time.Now().Add(10 * time.Millisecond)) }, isTimeout},
		{"write closed", false, func(c *Conn) { c.Close() }, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"read closed", true, func(c *Conn) { c.Close() }, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				a, b := tr.pair(t)
				fa := Wrap(a, Faults{Write: Fault{Kind: Stall, At: 4}})
				defer fa.Close()
				defer b.Close()
				stalled := fa.WriteStalled()
				if tt.read {
					fa.StallReads()
					stalled = fa.ReadStalled()
				}
				got := readAll(b)
				if tt.read {
					go b.Write(payload)
				}
				ended := make(chan error, 1)
				go func() {
					var err error
					if tt.read {
						buf := make([]byte, len(payload))
						_, err = io.ReadFull(fa, buf)
					} else {
						_, err = fa.Write(payload)
					}
					ended <- err
				}()
				recv(t, stalled, "the stall")
				select {
				case err := <-ended:
					t.Fatalf("the stalled call returned %v", err)
				default:
				}
				tt.end(fa)
				if err := recv(t, ended, "the stalled call"); !tt.wantErr(err) {
					t.Fatalf("the stalled call returned %v", err)
				}
				fa.Close()
				r := recv(t, got, "the remote reader")
				if !tt.read {
					want := payload[:4]
					if tt.wantErr(nil) {
						want = payload
					}
					if !bytes.Equal(r.data, want) {
						t.Fatalf("remote read %q, want %q", r.data, want)
					}
				}
			})
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// Listener wraps what it accepts, Dial what it dials; CloseWrite reaches
// TCP.
func TestListenerAndDial(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *Conn, 1)
	lis := &Listener{Listener: raw, Faults: Faults{ReadChunk: 2}, Accepted: accepted}
	defer lis.Close()
	served := make(chan readResult, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			served <- readResult{err: err}
			return
		}
		defer c.Close()
		served <- <-readAll(c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", raw.Addr().String(), Faults{WriteChunk: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	sc := recv(t, accepted, "the accepted conn")
	r := recv(t, served, "the server")
	if r.err != io.EOF || !bytes.Equal(r.data, payload) {
		t.Fatalf("served %q, %v", r.data, r.err)
	}
	for _, n := range r.reads {
		if n > 2 {
			t.Fatalf("the accepted conn read %d bytes at once", n)
		}
	}
	if sc.BytesRead() != int64(len(payload)) || c.BytesWritten() != int64(len(payload)) {
		t.Fatalf("counted %d read, %d written", sc.BytesRead(), c.BytesWritten())
	}
	p1, p2 := Pipe(Faults{}, Faults{})
	defer p1.Close()
	defer p2.Close()
	if err := p1.CloseWrite(); err == nil {
		t.Fatal("a pipe half-closed")
	}
}
