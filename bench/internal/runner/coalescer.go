package runner

import (
	"io"
	"runtime"
	"sync"
)

// coalescer is the write side of a connection shared by goroutines that
// each write whole frames: the technique of the fast frameworks (arpc's
// batching, teleport's socket) in its least form. write copies the frame
// into a shared buffer; the writer that finds no flush in progress becomes
// the flusher: it yields once, so that the goroutines about to write
// (handlers finishing together, callers calling at once) append theirs,
// then sends all of it in one Write, and repeats until the buffer is
// empty. No lock is held across a Write. The buffer is not bounded: a
// benchmark's callers wait for their replies, which bounds it.
type coalescer struct {
	w io.Writer

	// mu guards the fields below.
	mu       sync.Mutex
	buf      []byte // frames waiting for the flusher
	spare    []byte // the flusher's previous buffer, for reuse
	flushing bool
	err      error // the first write error: the connection is broken
}

// maxSpare bounds the buffer kept for reuse between flushes.
const maxSpare = 256 << 10

// write queues frame, which the caller may reuse on return, and makes sure
// it gets sent. A writer whose frame the flusher sends returns before the
// Write: a failure of that Write reaches the next writers as err.
func (c *coalescer) write(frame []byte) error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.buf = append(c.buf, frame...)
	if c.flushing {
		c.mu.Unlock()
		return nil
	}
	c.flushing = true
	c.mu.Unlock()

	runtime.Gosched()

	c.mu.Lock()
	for len(c.buf) > 0 && c.err == nil {
		b := c.buf
		c.buf, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_, err := c.w.Write(b)
		c.mu.Lock()
		if err != nil {
			c.err, c.buf = err, nil
			break
		}
		if cap(b) <= maxSpare {
			c.spare = b[:0]
		}
	}
	c.flushing = false
	err := c.err
	c.mu.Unlock()
	return err
}
