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
// read needs one and given back once every byte in it has been consumed
// (at the next read, so that bytes handed out in place stay valid). A busy connection reads many frames per system call; an idle
// one holds no buffer but its few inline bytes.
type readAhead struct {
	conn io.Reader
	raw  rawReader // where fill waits without a buffer, if rc is not nil
	size int       // the base size of the buffers it takes
	// grow is the size class, size<<grow, of the buffer fill reads the
	// next batch of frames into: a fill that fills its buffer moves it up
	// (to maxReadGrow), one that uses a quarter or less moves it down, and
	// one that ends with nothing resets it. A connection receiving large
	// batches reads them in fewer system calls; a quiet one keeps small
	// buffers. The rest of a frame is always read into a base-size buffer.
	grow uint8

	// Owned by the single reader (the socket serialises ReadPacket).
	data   []byte  // the buffer: inline[:], (*pooled), or nil
	pooled *[]byte // the pooled buffer data is, or nil
	r, w   int     // unread bytes are data[r:w]
	err    error   // returned once the buffered bytes are consumed
	inline [directReadMax]byte
}

// maxReadGrow bounds the growth of a read-ahead buffer to 8 times its
// base size (64 KiB by default).
const maxReadGrow = 3

// readBuffers pools read-ahead buffers, one pool per size class; a buffer
// of no class of the current base size is dropped rather than reused.
var readBuffers [maxReadGrow + 1]sync.Pool

func (b *readAhead) reset(conn io.Reader, size int) {
	b.release()
	b.conn, b.size, b.grow, b.err = conn, size, 0, nil
	b.raw.rc = rawConnOf(conn)
}

func (b *readAhead) release() {
	if b.pooled != nil {
		for k := range readBuffers {
			if len(*b.pooled) == b.size<<k {
				readBuffers[k].Put(b.pooled)
				break
			}
		}
		b.pooled = nil
	}
	b.data, b.r, b.w = nil, 0, 0
}

func (b *readAhead) Read(p []byte) (int, error) {
	if b.r < b.w {
		n := copy(p, b.data[b.r:b.w])
		b.r += n
		return n, nil
	}
	b.releaseDrained()
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
	// The rest of a frame, smaller than a base buffer: it may be all the
	// peer sends for a while, so the read waits in a buffer of the base
	// size, not of the size class the earlier batches grew.
	b.take(0)
	return b.fillAndCopy(p)
}

// fillAndCopy reads once into data and copies what it can to p, keeping
// the rest.
func (b *readAhead) fillAndCopy(p []byte) (int, error) {
	n, err := b.conn.Read(b.data)
	m := copy(p, b.data[:n])
	if m == n {
		b.release()
		return m, err
	}
	b.r, b.w, b.err = m, n, err
	return m, nil
}

// next returns the next n bytes in place, when they are all buffered. They
// stay valid until the next call of another method: a drained buffer goes
// back to the pool only then.
func (b *readAhead) next(n int) ([]byte, bool) {
	if b.w-b.r < n {
		return nil, false
	}
	v := b.data[b.r : b.r+n : b.r+n]
	b.r += n
	return v, true
}

// ready says whether a wait for bytes is over before it began: bytes are
// buffered, or the error of an earlier read is due. Otherwise it gives
// back the drained buffer, if any.
func (b *readAhead) ready() (bool, error) {
	if b.r < b.w {
		return true, nil
	}
	b.releaseDrained()
	if b.err != nil {
		err := b.err
		b.err = nil
		return true, err
	}
	return false, nil
}

// releaseDrained gives back a buffer whose bytes have all been consumed.
func (b *readAhead) releaseDrained() {
	if b.data != nil && b.r == b.w {
		b.release()
	}
}

// wait blocks until at least one byte is buffered (or the read fails),
// reading into the inline bytes: the wait holds no pooled buffer.
func (b *readAhead) wait() error {
	if done, err := b.ready(); done {
		return err
	}
	n, err := b.conn.Read(b.inline[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	b.data, b.r, b.w, b.err = b.inline[:], 0, n, err
	return nil
}

// fill blocks until at least one byte is buffered (or the read fails),
// reading as much as has arrived into a pooled buffer: for a busy reader,
// one system call brings many frames.
func (b *readAhead) fill() error {
	if done, err := b.ready(); done {
		return err
	}
	var n int
	var err error
	if b.raw.rc != nil {
		n, err = b.fillRaw() // takes the buffer once bytes are there
	} else {
		b.take(b.grow)
		n, err = b.conn.Read(b.data)
	}
	if n == 0 {
		b.grow = 0 // the wait ended with nothing: the batches are over
		b.release()
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	b.adapt(n)
	b.r, b.w, b.err = 0, n, err
	return nil
}

// Buffered returns how many bytes can be read without a system call.
func (b *readAhead) Buffered() int { return b.w - b.r }

// take gets a buffer of size class k from the pool.
func (b *readAhead) take(k uint8) {
	size := b.size << k
	if v, ok := readBuffers[k].Get().(*[]byte); ok && len(*v) == size {
		b.pooled = v
	} else {
		buf := make([]byte, size)
		b.pooled = &buf
	}
	b.data = *b.pooled
}

// adapt moves the size class after fill read n bytes into the buffer:
// up when the read filled it (more was likely waiting), down when it
// used a quarter or less.
func (b *readAhead) adapt(n int) {
	switch {
	case n == len(b.data) && b.grow < maxReadGrow:
		b.grow++
	case n <= len(b.data)/4 && b.grow > 0:
		b.grow--
	}
}
