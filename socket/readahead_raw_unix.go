//go:build unix

package socket

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader lets a readAhead wait for a plain TCP or unix connection to
// become readable without holding a buffer: the buffer is taken from its
// pool only once bytes are there to read. A reader lingering on each of
// 10 000 quiet connections then holds no 8 KiB buffer per connection, and
// the pool serves the few reads actually running instead of missing (and
// the heap zeroing a fresh buffer) on every other one.
type rawReader struct {
	rc   syscall.RawConn
	read func(fd uintptr) bool // b.readFD, bound once
	n    int
	err  error
}

// rawConnOf returns the raw connection of c when its reads can be made
// with read(2) directly: a plain *net.TCPConn or *net.UnixConn.
func rawConnOf(c io.Reader) syscall.RawConn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// fillRaw is fill's read for a raw connection: it returns what read(2)
// returned once the connection was readable, the way net.Conn.Read
// reports it (0 bytes and io.EOF at the end of the stream).
func (b *readAhead) fillRaw() (int, error) {
	if b.raw.read == nil {
		b.raw.read = b.readFD
	}
	b.raw.n, b.raw.err = 0, nil
	if err := b.raw.rc.Read(b.raw.read); err != nil {
		// The deadline passed or the connection was closed: reported as
		// the connection's own Read would.
		if oe, ok := err.(*net.OpError); ok {
			oe.Op = "read"
		}
		return 0, err
	}
	if b.raw.err != nil && b.raw.err != io.EOF {
		c := b.conn.(net.Conn)
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: b.raw.err}
	}
	return b.raw.n, b.raw.err
}

// readFD is called by RawConn.Read, first at once and then each time the
// poller says the connection is readable; false makes it wait.
func (b *readAhead) readFD(fd uintptr) bool {
	b.take(b.grow)
	for {
		n, err := syscall.Read(int(fd), b.data)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			b.release() // nothing yet: wait without the buffer
			return false
		case err != nil:
			b.raw.n, b.raw.err = 0, os.NewSyscallError("read", err)
		case n == 0:
			b.raw.n, b.raw.err = 0, io.EOF
		default:
			b.raw.n = n
		}
		return true
	}
}
