package socket

import (
	"io"
	"sync"
)

// directReadMax is the largest read a readAhead passes straight to the
// connection when it holds nothing: a frame head. The wait for the next
// frame, where an idle connection spends its life, then holds no buffer.
const directReadMax = 16

// readAhead reads a connection through a buffer taken from a pool when a
// read needs one and given back as soon as every byte in it has been
// consumed. A busy connection reads many frames per system call; an idle
// one holds no buffer at all.
type readAhead struct {
	conn io.Reader
	size int // the size of the buffers it takes

	// Owned by the single reader (the socket serialises ReadPacket).
	buf  *[]byte // nil when empty
	r, w int     // unread bytes are (*buf)[r:w]
	err  error   // returned once the buffered bytes are consumed
}

// readBuffers pools read-ahead buffers; one of another size than the
// current setting is dropped rather than reused.
var readBuffers sync.Pool

func (b *readAhead) reset(conn io.Reader, size int) {
	b.release()
	b.conn, b.size, b.err = conn, size, nil
}

func (b *readAhead) release() {
	if b.buf != nil {
		readBuffers.Put(b.buf)
		b.buf, b.r, b.w = nil, 0, 0
	}
}

func (b *readAhead) Read(p []byte) (int, error) {
	if b.r < b.w {
		n := copy(p, (*b.buf)[b.r:b.w])
		if b.r += n; b.r == b.w {
			b.release()
		}
		return n, nil
	}
	if b.err != nil {
		err := b.err
		b.err = nil
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) <= directReadMax || len(p) >= b.size {
		return b.conn.Read(p)
	}
	b.take()
	n, err := b.conn.Read(*b.buf)
	m := copy(p, (*b.buf)[:n])
	if m == n {
		b.release()
		return m, err
	}
	b.r, b.w, b.err = m, n, err
	return m, nil
}

// Buffered returns how many bytes can be read without a system call.
func (b *readAhead) Buffered() int { return b.w - b.r }

// take gets a buffer of the current size from the pool.
func (b *readAhead) take() {
	if v, ok := readBuffers.Get().(*[]byte); ok && len(*v) == b.size {
		b.buf = v
		return
	}
	buf := make([]byte, b.size)
	b.buf = &buf
}
