package socket

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/henrylee2cn/goutil"
	"github.com/teleport-go/teleport/internal/lazymap"
	"github.com/teleport-go/teleport/internal/seqpacket"
)

// Socket is a connection that reads and writes packets through a Proto.
// Its methods are safe for concurrent use.
type Socket interface {
	net.Conn
	// WritePacket writes p as one frame; frames of concurrent callers
	// never interleave.
	WritePacket(p *Packet) error
	// ReadPacket reads the next frame into p; concurrent callers take
	// frames in turn.
	ReadPacket(p *Packet) error
	// Public returns per-connection scratch data.
	Public() goutil.Map
	// PublicLen returns the number of entries in Public.
	PublicLen() int
	// Id returns the socket id, the remote address unless set.
	Id() string
	// SetId sets the socket id.
	SetId(string)
}

type socket struct {
	net.Conn
	ra    readAhead
	proto Proto
	// bufProto is proto when it tells what it holds (BufferedProto) and
	// is not the fast protocol, which holds nothing; see protoBuffered.
	bufProto BufferedProto
	// opaqueProto is set when proto does not tell: it may hold a frame at
	// any time.
	opaqueProto bool
	// readLimit, when not 0, is a limit on the size of the frames read,
	// below the package's (SetReadLimit); budget, when not nil, accounts
	// for the frames being read (SetFrameBudget).
	readLimit atomic.Uint32
	budget    atomic.Pointer[FrameBudget]

	// writeTimeout bounds how long a write may go without the connection
	// taking a byte (0: no bound), and
	// writeLimit, when not 0, is an absolute deadline (Unix nanoseconds)
	// no write may pass; see SetWriteTimeout and SetWriteDeadline.
	writeTimeout atomic.Int64
	writeLimit   atomic.Int64
	// deadlineSet records that a write deadline is armed on the
	// connection, so that it is cleared once neither bound applies.
	deadlineSet atomic.Bool
	// writeFailed is set once a write failed: the connection cannot take
	// a TLS close_notify either.
	writeFailed atomic.Bool

	// rmu serialises ReadPacket: a Proto has one reader at a time.
	rmu sync.Mutex

	id atomic.Pointer[string] // nil: the remote address

	public   lazymap.Map
	fromPool bool
	closed   atomic.Bool

	// rc is what PollConn returns, made on its first call: a park then
	// allocates nothing. Owned by the reading goroutine.
	rc syscall.RawConn
}

var _ Socket = (*socket)(nil)

var socketPool = sync.Pool{New: func() any { return new(socket) }}

// NewSocket wraps c. The protocol is the first non-nil protoFunc, or the
// default one.
func NewSocket(c net.Conn, protoFunc ...ProtoFunc) Socket {
	s := new(socket)
	s.init(c, protoFunc)
	return s
}

// GetSocket is NewSocket with the socket taken from a pool; Close returns
// it there, so it must not be used after Close.
func GetSocket(c net.Conn, protoFunc ...ProtoFunc) Socket {
	s := socketPool.Get().(*socket)
	s.init(c, protoFunc)
	s.fromPool = true
	return s
}

func (s *socket) init(c net.Conn, protoFunc []ProtoFunc) {
	applyTCPSettings(c)
	s.Conn = c
	// A message-oriented connection is read and written as a stream.
	c = seqpacket.Wrap(c)
	s.Conn = c
	s.ra.reset(c, ReadBufferSize())
	s.writeTimeout.Store(0)
	s.writeLimit.Store(0)
	s.deadlineSet.Store(false)
	s.writeFailed.Store(false)
	s.proto = pickProtoFunc(protoFunc)(sockIO{s})
	s.readLimit.Store(0)
	s.budget.Store(nil)
	s.bufProto, s.opaqueProto = nil, false
	if _, fast := s.proto.(*fastProto); !fast {
		s.bufProto, _ = s.proto.(BufferedProto)
		s.opaqueProto = s.bufProto == nil
	}
	s.id.Store(nil)
	s.public.Reset()
	s.closed.Store(false)
	s.rc = nil
}

// sockIO is what a Proto reads and writes: reads go through the socket's
// read-ahead buffer, writes straight to the connection (Pack
// implementations do their own buffering) under the write deadline.
type sockIO struct{ s *socket }

func (x sockIO) Read(p []byte) (int, error) { return x.s.ra.Read(p) }

func (x sockIO) Write(p []byte) (int, error) {
	var w writeProgress
	for {
		x.s.armWriteDeadline(&w)
		n, err := x.s.Conn.Write(p[w.done:])
		w.done += n
		if err == nil {
			return w.done, nil
		}
		if !x.s.movedOn(&w, n, err) {
			x.s.writeFailed.Store(true)
			return w.done, err
		}
	}
}

// WriteBuffers writes bufs at once, with one writev where the connection
// is a TCP or unix one, under the write deadline.
func (x sockIO) WriteBuffers(bufs *net.Buffers) (int64, error) {
	var w writeProgress
	var done int64
	for {
		x.s.armWriteDeadline(&w)
		n, err := bufs.WriteTo(x.s.Conn) // consumes what it wrote
		done += n
		if err == nil {
			return done, nil
		}
		if !x.s.movedOn(&w, int(n), err) {
			x.s.writeFailed.Store(true)
			return done, err
		}
	}
}

// writeSteps is how many deadlines a write timeout is waited in, over a
// connection that stays usable after one: a write fails at most a quarter
// of the timeout after the connection last took bytes.
const writeSteps = 4

// writeProgress is one write's account of its deadline: when the
// connection last took some of its bytes (or the write began), the
// deadline it armed last (zero: none), whether a deadline leaves the
// connection usable, and the bytes written.
type writeProgress struct {
	last, armed time.Time
	resumable   bool
	done        int
}

// movedOn reports whether a write that ended with err after writing n
// more bytes goes on under a new deadline: the write timeout bounds how
// long the connection takes none of the write's bytes, not how long a
// large write takes, so a write that ran out of its step while the link
// still took bytes (a slow link, a batch of many frames) is not a failure.
// It goes on only over a TCP or unix connection, which a deadline leaves
// usable (a TLS connection's state is lost once a write times out), only
// when the deadline that passed is the one it armed (a deadline set on the
// connection some other way ends the write, as it did before), and not
// past the absolute deadline of SetWriteDeadline.
func (s *socket) movedOn(w *writeProgress, n int, err error) bool {
	if !w.resumable || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	now := time.Now()
	if w.armed.IsZero() || now.Before(w.armed) {
		return false // not the write's own deadline
	}
	if l := s.writeLimit.Load(); l != 0 && now.UnixNano() >= l {
		return false
	}
	d := time.Duration(s.writeTimeout.Load())
	if n > 0 || d == 0 { // moved, or the timeout was removed meanwhile
		w.last = now
		return true
	}
	return now.Before(w.last.Add(d))
}

// tlsCloseNotifyWait bounds the close_notify alert a TLS connection sends
// on Close: crypto/tls gives it 5 s, which a peer that stopped reading
// would take in full.
const tlsCloseNotifyWait = 250 * time.Millisecond

// closeConn closes the connection. Over TLS (found through NetConn, also
// under wrappers that have it), the close_notify alert is skipped when the
// write side has failed, and given tlsCloseNotifyWait otherwise.
func (s *socket) closeConn() error {
	tc := tlsUnder(s.Conn)
	if tc == nil {
		return s.Conn.Close()
	}
	if s.writeFailed.Load() {
		_ = tc.NetConn().Close() // the alert then fails at once
		return s.Conn.Close()
	}
	done := make(chan error, 1)
	go func() { done <- s.Conn.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(tlsCloseNotifyWait):
		_ = tc.NetConn().Close() // unblocks the alert's write
		return <-done
	}
}

// ConnectionState returns the TLS state of the socket's connection (a
// *tls.Conn, or one under wrappers that have a NetConn method), and false
// when it is not TLS. It is not part of the Socket interface.
func (s *socket) ConnectionState() (tls.ConnectionState, bool) {
	if tc := tlsUnder(s.Conn); tc != nil {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// tlsUnder returns the *tls.Conn c is, or wraps (through NetConn methods),
// or nil.
func tlsUnder(c net.Conn) *tls.Conn {
	for range 4 {
		if tc, ok := c.(*tls.Conn); ok {
			return tc
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
	return nil
}

// Buffered returns how many bytes can be read without a system call.
func (x sockIO) Buffered() int { return x.s.ra.Buffered() }

// Buffered returns how many bytes can be read without a system call: those
// in the socket's buffer and those its Proto holds (BufferedProto). A
// Proto that does not tell may hold a frame: it counts as 1 byte at least,
// so that the reader calls ReadPacket rather than wait. It is not part of
// the Socket interface; NewSocket's and GetSocket's sockets have it. Call
// it from the one reading goroutine.
func (s *socket) Buffered() int {
	n, known := s.protoBuffered()
	if !known {
		return s.ra.Buffered() + 1
	}
	return s.ra.Buffered() + n
}

// SetReadLimit lowers the size of the frames the socket reads to n bytes,
// checked on a frame's size field before any of it is read (0: the
// package's PacketSizeLimit). A peer sets it while a connection is in its
// handshake, when the other end has proved nothing yet. Only the fast
// protocol applies it. It is not part of the Socket interface.
func (s *socket) SetReadLimit(n uint32) { s.readLimit.Store(n) }

// SetFrameBudget makes the socket account for the frames it reads that
// are not yet whole in b (nil: none): see FrameBudget. Only the fast
// protocol applies it. It is not part of the Socket interface.
func (s *socket) SetFrameBudget(b *FrameBudget) { s.budget.Store(b) }

// protoBuffered returns how many bytes the Proto holds, and false when it
// cannot tell (it is no BufferedProto).
func (s *socket) protoBuffered() (int, bool) {
	switch {
	case s.opaqueProto:
		return 0, false
	case s.bufProto != nil:
		return s.bufProto.Buffered(), true
	}
	return 0, true // the fast protocol
}

// protoIdle reports whether the Proto is known to hold no byte: only then
// may the reader wait for the network rather than unpack.
func (s *socket) protoIdle() bool {
	n, known := s.protoBuffered()
	return known && n == 0
}

// Fill blocks until the next bytes have arrived (or the connection
// failed), reading all that arrived into a pooled buffer: where a busy
// reader waits. It returns at once when the Proto holds bytes, or may. It
// is not part of the Socket interface; NewSocket's and GetSocket's sockets
// have it. Call it from the one reading goroutine.
func (s *socket) Fill() error {
	if !s.protoIdle() {
		return nil
	}
	s.rmu.Lock()
	err := s.ra.fill()
	s.rmu.Unlock()
	return err
}

// ReadTimeoutSafe reports whether a read that times out leaves the
// connection usable, as it does for TCP and unix connections (under TLS
// or not), so a reader may wait for a while with a deadline and go on.
// It is not part of the Socket interface.
func (s *socket) ReadTimeoutSafe() bool {
	c := s.Conn
	for range 4 {
		switch t := c.(type) {
		case *net.TCPConn, *net.UnixConn:
			return true
		case *tls.Conn:
			c = t.NetConn()
		default:
			return false
		}
	}
	return false
}

// PollConn returns the raw connection a poller of the caller's own may
// wait on for the next frame, instead of WaitRead: the connection is a
// plain TCP or unix stream (not TLS, whose records may hold bytes already
// read), and no byte or error is buffered. A drained read buffer goes
// back to its pool. ok is false otherwise. It is
// not part of the Socket interface. Call it from the one reading
// goroutine.
func (s *socket) PollConn() (rc syscall.RawConn, ok bool) {
	sc, isRaw := s.Conn.(syscall.Conn)
	switch s.Conn.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil, false
	}
	if !s.protoIdle() {
		return nil, false // a frame may be waiting inside the Proto
	}
	s.rmu.Lock()
	s.ra.releaseDrained() // a parked connection holds no buffer
	idle := s.ra.Buffered() == 0 && s.ra.err == nil
	s.rmu.Unlock()
	if !idle || !isRaw {
		return nil, false
	}
	if s.rc == nil {
		rc, err := sc.SyscallConn()
		if err != nil {
			return nil, false
		}
		s.rc = rc
	}
	return s.rc, true
}

// WaitRead blocks until the next frame's first bytes have arrived (or the
// connection failed), without holding a read buffer or a packet: where an
// idle connection waits. It is not part of the Socket interface; NewSocket's
// and GetSocket's sockets have it. Call it from the one reading goroutine.
func (s *socket) WaitRead() error {
	if !s.protoIdle() {
		return nil // the Proto holds bytes, or may: Unpack at once
	}
	s.rmu.Lock()
	err := s.ra.wait()
	s.rmu.Unlock()
	return err
}

// SetWriteTimeout fails a write once the connection has taken none of
// its bytes for d, give or take a quarter of d (0: no bound). The
// deadline counts from when a write begins, not when a packet is queued,
// so frames queued behind a blocked write cannot push it back, and again
// from each time the connection takes some of its bytes, so a write of
// many frames over a slow link that is still moving does not fail (over
// TLS, where a timed-out write cannot go on, d bounds each write whole). It is not part of the Socket
// interface; NewSocket's and GetSocket's sockets have it.
func (s *socket) SetWriteTimeout(d time.Duration) {
	s.writeTimeout.Store(int64(max(d, 0)))
}

// SetWriteDeadline sets an absolute deadline for writes, as net.Conn's
// does, and keeps it: later writes arm the earlier of it and their
// timeout. The zero time removes it.
func (s *socket) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		s.writeLimit.Store(0)
	} else {
		s.writeLimit.Store(t.UnixNano())
	}
	s.deadlineSet.Store(!t.IsZero())
	return s.Conn.SetWriteDeadline(t)
}

// armWriteDeadline sets the connection's write deadline for the next
// step of write w: the earlier of the absolute limit and the write
// timeout past w's last progress, and, over a connection a deadline
// leaves usable, a quarter of the timeout from now.
func (s *socket) armWriteDeadline(w *writeProgress) {
	var dl time.Time
	if d := time.Duration(s.writeTimeout.Load()); d > 0 {
		now := time.Now()
		if w.last.IsZero() {
			w.last = now
			switch s.Conn.(type) {
			case *net.TCPConn, *net.UnixConn:
				w.resumable = true
			}
		}
		dl = w.last.Add(d)
		if step := now.Add(d / writeSteps); w.resumable && step.Before(dl) {
			dl = step
		}
	}
	if l := s.writeLimit.Load(); l != 0 {
		if t := time.Unix(0, l); dl.IsZero() || t.Before(dl) {
			dl = t
		}
	}
	w.armed = dl
	if dl.IsZero() {
		if s.deadlineSet.Swap(false) {
			_ = s.Conn.SetWriteDeadline(time.Time{})
		}
		return
	}
	s.deadlineSet.Store(true)
	_ = s.Conn.SetWriteDeadline(dl)
}

// SetDeadline sets the read deadline as net.Conn's does and the write
// deadline as SetWriteDeadline does, so that later writes keep it.
func (s *socket) SetDeadline(t time.Time) error {
	if err := s.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

func (s *socket) WritePacket(p *Packet) error {
	return s.proto.Pack(p)
}

func (s *socket) ReadPacket(p *Packet) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.proto.Unpack(p)
}

func (s *socket) Public() goutil.Map { return s.public.Get() }

func (s *socket) PublicLen() int { return s.public.Len() }

func (s *socket) Id() string {
	if id := s.id.Load(); id != nil {
		return *id
	}
	return s.RemoteAddr().String()
}

func (s *socket) SetId(id string) {
	if id == "" {
		s.id.Store(nil)
		return
	}
	s.id.Store(&id)
}

// Close closes the connection once; a pooled socket then returns to its
// pool.
func (s *socket) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	err := s.closeConn()
	if s.fromPool {
		s.fromPool = false
		s.proto = nil
		s.public.Reset()
		socketPool.Put(s)
	}
	return err
}
