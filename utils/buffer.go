package utils

import "sync"

// maxPooledBufferCap bounds the buffers kept by the pool, so that one huge
// frame does not pin its memory for the life of the process.
const maxPooledBufferCap = 4 << 20

// ByteBuffer is a growable byte slice meant to be reused through
// AcquireByteBuffer and ReleaseByteBuffer.
type ByteBuffer struct {
	B []byte
}

var byteBufferPool = sync.Pool{New: func() any { return &ByteBuffer{B: make([]byte, 0, 1024)} }}

// AcquireByteBuffer returns an empty buffer from the pool.
func AcquireByteBuffer() *ByteBuffer {
	return byteBufferPool.Get().(*ByteBuffer)
}

// ReleaseByteBuffer returns b to the pool; b must not be used after.
func ReleaseByteBuffer(b *ByteBuffer) {
	if cap(b.B) > maxPooledBufferCap {
		return
	}
	b.B = b.B[:0]
	byteBufferPool.Put(b)
}

// Reset empties the buffer, keeping its memory.
func (b *ByteBuffer) Reset() { b.B = b.B[:0] }

// Len returns the number of bytes held.
func (b *ByteBuffer) Len() int { return len(b.B) }

// Write appends p; it never fails.
func (b *ByteBuffer) Write(p []byte) (int, error) {
	b.B = append(b.B, p...)
	return len(p), nil
}

// WriteString appends s; it never fails.
func (b *ByteBuffer) WriteString(s string) (int, error) {
	b.B = append(b.B, s...)
	return len(s), nil
}

// WriteByte appends c; it never fails.
func (b *ByteBuffer) WriteByte(c byte) error {
	b.B = append(b.B, c)
	return nil
}

// Grow makes room for n more bytes without reallocating on the next n
// bytes appended.
func (b *ByteBuffer) Grow(n int) {
	if cap(b.B)-len(b.B) < n {
		nb := make([]byte, len(b.B), 2*cap(b.B)+n)
		copy(nb, b.B)
		b.B = nb
	}
}
