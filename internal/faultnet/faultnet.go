// Package faultnet wraps network connections to inject faults, for tests:
// reads that return few bytes at a time, writes passed on in small pieces,
// and, at a chosen byte of either direction, a stall, an error or a cut.
//
// A Conn counts the bytes that went through each direction. A Fault fires
// once its direction has passed Fault.At bytes: the first At bytes go
// through untouched, and the call that would pass byte At+1 meets the
// fault instead. Offsets are exact for one reader and one writer at a
// time, which is how a teleport socket uses a connection.
package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ErrInjected is wrapped by every error a Fault makes up: a Fail without
// its own error, and a write that meets a Cut.
var ErrInjected = errors.New("faultnet: injected fault")

// Kind is what a Fault does once its byte is reached.
type Kind uint8

const (
	// None injects nothing.
	None Kind = iota
	// Stall blocks the direction, as a peer that stops reading (writes)
	// or stops sending (reads) would: the call waits until Release, the
	// direction's deadline (an os.ErrDeadlineExceeded error, as a real
	// connection gives) or Close.
	Stall
	// Fail makes every call of the direction return Fault.Err
	// (ErrInjected when nil). The connection itself stays open.
	Fail
	// Cut closes the connection: the remote end sees it end after the
	// bytes that went through. A read then returns io.EOF, as when the
	// remote peer hangs up; a write returns an error wrapping ErrInjected.
	Cut
)

func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case Stall:
		return "stall"
	case Fail:
		return "fail"
	case Cut:
		return "cut"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Fault is a fault of one direction, fired once At bytes went through.
type Fault struct {
	Kind Kind
	// At is the number of bytes that go through before the fault.
	At int64
	// Err is what Fail returns; nil: ErrInjected.
	Err error
}

// Faults configures a Conn. The zero value injects no fault.
type Faults struct {
	// ReadChunk > 0 makes every Read return at most that many bytes
	// (short reads); 0: whatever the wrapped connection returns.
	ReadChunk int
	// WriteChunk > 0 passes every Write on to the wrapped connection in
	// pieces of at most that many bytes (a frame in 1-byte writes); 0:
	// whole.
	WriteChunk int
	// Read and Write are the faults of each direction.
	Read  Fault
	Write Fault
}

func (f Faults) String() string {
	s := fmt.Sprintf("read chunk %d, write chunk %d", f.ReadChunk, f.WriteChunk)
	if f.Read.Kind != None {
		s += fmt.Sprintf(", read %s at %d", f.Read.Kind, f.Read.At)
	}
	if f.Write.Kind != None {
		s += fmt.Sprintf(", write %s at %d", f.Write.Kind, f.Write.At)
	}
	return s
}

// Conn is a net.Conn with faults. Its methods are safe for concurrent use.
type Conn struct {
	net.Conn
	readChunk, writeChunk int
	rd, wr                direction

	closeOnce sync.Once
	closedCh  chan struct{} // closed by Close
	closeErr  error
}

var _ net.Conn = (*Conn)(nil)

// direction is the state of reads or of writes.
type direction struct {
	// mu guards the fields below.
	mu    sync.Mutex
	n     int64 // bytes that went through
	fault Fault
	// release is closed by Release to end the current stall.
	release chan struct{}
	// stalled is closed once a call blocks on a stall.
	stalled chan struct{}
	// deadline is the direction's deadline; deadlineCh is closed and
	// replaced when it changes, to wake a stalled call.
	deadline   time.Time
	deadlineCh chan struct{}
}

func (d *direction) init(f Fault) {
	d.fault = f
	d.release = make(chan struct{})
	d.stalled = make(chan struct{})
	d.deadlineCh = make(chan struct{})
}

// Wrap returns c with faults f.
func Wrap(c net.Conn, f Faults) *Conn {
	fc := &Conn{Conn: c, readChunk: f.ReadChunk, writeChunk: f.WriteChunk, closedCh: make(chan struct{})}
	fc.rd.init(f.Read)
	fc.wr.init(f.Write)
	return fc
}

// Pipe returns the two ends of a net.Pipe, with faults a and b.
func Pipe(a, b Faults) (*Conn, *Conn) {
	ca, cb := net.Pipe()
	return Wrap(ca, a), Wrap(cb, b)
}

// Dial dials addr on network and wraps the connection with f.
func Dial(ctx context.Context, network, addr string, f Faults) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return Wrap(c, f), nil
}

// Listener wraps every connection it accepts with Faults.
type Listener struct {
	net.Listener
	Faults Faults
	// Accepted, when not nil, receives every connection accepted, before
	// Accept returns it.
	Accepted chan<- *Conn
}

// Accept accepts a connection and wraps it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := Wrap(c, l.Faults)
	if l.Accepted != nil {
		l.Accepted <- fc
	}
	return fc, nil
}

// Read reads at most ReadChunk bytes, and meets the read fault at its byte.
func (c *Conn) Read(p []byte) (int, error) {
	if c.readChunk > 0 && len(p) > c.readChunk {
		p = p[:c.readChunk]
	}
	if len(p) == 0 {
		return c.Conn.Read(p)
	}
	k, err := c.rd.allow(c, len(p), true)
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p[:k])
	c.rd.add(n)
	return n, err
}

// Write writes p in pieces of at most WriteChunk bytes, and meets the write
// fault at its byte: the bytes before it are written, and their count is
// returned with the fault's error.
func (c *Conn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		want := len(p)
		if c.writeChunk > 0 {
			want = min(want, c.writeChunk)
		}
		k, err := c.wr.allow(c, want, false)
		if err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[:k])
		c.wr.add(n)
		written += n
		p = p[n:]
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (d *direction) add(n int) {
	d.mu.Lock()
	d.n += int64(n)
	d.mu.Unlock()
}

// allow returns how many of want bytes may go through now, waiting out a
// stall, or the error of a fault that fired.
func (d *direction) allow(c *Conn, want int, read bool) (int, error) {
	d.mu.Lock()
	for {
		f := d.fault
		if f.Kind == None || d.n < f.At {
			if f.Kind != None {
				want = int(min(int64(want), f.At-d.n))
			}
			d.mu.Unlock()
			return want, nil
		}
		switch f.Kind {
		case Fail:
			d.mu.Unlock()
			if f.Err != nil {
				return 0, f.Err
			}
			return 0, fmt.Errorf("%w: %s failed after %d bytes", ErrInjected, dirName(read), f.At)
		case Cut:
			d.mu.Unlock()
			_ = c.Close()
			if read {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("%w: connection cut after %d bytes written", ErrInjected, f.At)
		}
		// Stall: wait for a release, the deadline or Close.
		select {
		case <-d.stalled:
		default:
			close(d.stalled)
		}
		release, deadline, changed := d.release, d.deadline, d.deadlineCh
		d.mu.Unlock()
		if err := waitStall(release, changed, c.closedCh, deadline); err != nil {
			return 0, err
		}
		d.mu.Lock()
	}
}

// waitStall waits for a stall to be released, its deadline to change (nil
// error for both: look again), the deadline to pass or the conn to close.
func waitStall(release, changed, closed <-chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-release:
	case <-changed:
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-closed:
		return net.ErrClosed
	}
	return nil
}

func dirName(read bool) string {
	if read {
		return "read"
	}
	return "write"
}

// stallNow stalls the direction from the bytes already passed.
func (d *direction) stallNow() {
	d.mu.Lock()
	d.fault = Fault{Kind: Stall, At: d.n}
	d.mu.Unlock()
}

// releaseStall ends a stall of the direction: calls go on, and the fault is
// cleared.
func (d *direction) releaseStall() {
	d.mu.Lock()
	if d.fault.Kind == Stall {
		d.fault = Fault{}
		close(d.release)
		d.release = make(chan struct{})
	}
	d.mu.Unlock()
}

func (d *direction) stalledCh() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stalled
}

func (d *direction) count() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func (d *direction) setDeadline(t time.Time) {
	d.mu.Lock()
	d.deadline = t
	close(d.deadlineCh)
	d.deadlineCh = make(chan struct{})
	d.mu.Unlock()
}

// StallReads makes reads block from now on, as a peer that stops sending.
func (c *Conn) StallReads() { c.rd.stallNow() }

// StallWrites makes writes block from now on, as a peer that stops reading.
func (c *Conn) StallWrites() { c.wr.stallNow() }

// Release ends the stalls of both directions.
func (c *Conn) Release() {
	c.rd.releaseStall()
	c.wr.releaseStall()
}

// ReadStalled is closed once a read blocks on a stall.
func (c *Conn) ReadStalled() <-chan struct{} { return c.rd.stalledCh() }

// WriteStalled is closed once a write blocks on a stall.
func (c *Conn) WriteStalled() <-chan struct{} { return c.wr.stalledCh() }

// BytesRead returns the number of bytes read so far.
func (c *Conn) BytesRead() int64 { return c.rd.count() }

// BytesWritten returns the number of bytes written so far.
func (c *Conn) BytesWritten() int64 { return c.wr.count() }

// Closed is closed once Close was called (by the user or by a Cut).
func (c *Conn) Closed() <-chan struct{} { return c.closedCh }

// NetConn returns the wrapped connection, as crypto/tls's Conn does.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Close closes the connection once, ending stalled calls.
func (c *Conn) Close() error {
	closed := false
	c.closeOnce.Do(func() {
		closed = true
		close(c.closedCh)
		c.closeErr = c.Conn.Close()
	})
	if !closed {
		return net.ErrClosed
	}
	return c.closeErr
}

// SetDeadline sets both deadlines, on the wrapped connection and on stalls.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.setDeadline(t)
	c.wr.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, on the wrapped connection and on
// stalled reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rd.setDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline, on the wrapped connection and on
// stalled writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wr.setDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite half-closes the wrapped connection when it can (TCP, unix).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("faultnet: %T cannot half-close", c.Conn)
}
