package tp

import (
	"math/bits"
	"sync"
)

// A stream message waits in its stream's queue in a buffer of its own,
// taken from a pool by size class (powers of two from 256 bytes to
// 64 MiB), and given back once Recv has decoded or copied it out. A
// message read into a buffer of its class is queued in that very buffer,
// the reader taking a pooled one for the next message (takeMsgBuffer);
// others are copied. A stream carrying large messages then reuses
// warm memory instead of allocating and faulting in fresh pages for every
// message, and a buffer is never more than twice its message, so the
// window still bounds what a stalled stream holds.
const (
	minMsgClass = 8  // 256 bytes
	maxMsgClass = 26 // 64 MiB
)

// swapMinClass is the smallest class takeMsgBuffer queues without a copy:
// below it, a copy costs less than trading buffers with the reader.
const swapMinClass = 14 // 16 KiB

var msgBuffers [maxMsgClass + 1]sync.Pool

// msgClass returns the size class of an n-byte message, -1 past the last.
func msgClass(n int) int {
	if n <= 1<<minMsgClass {
		return minMsgClass
	}
	c := bits.Len(uint(n - 1))
	if c > maxMsgClass {
		return -1
	}
	return c
}

// getMsgBuffer returns a buffer holding a copy of b.
func getMsgBuffer(b []byte) *[]byte {
	c := msgClass(len(b))
	if c < 0 {
		buf := append([]byte(nil), b...)
		return &buf
	}
	if v, ok := msgBuffers[c].Get().(*[]byte); ok {
		*v = append((*v)[:0], b...)
		return v
	}
	buf := make([]byte, len(b), 1<<c)
	copy(buf, b)
	return &buf
}

// putMsgBuffer gives back a buffer of getMsgBuffer.
func putMsgBuffer(v *[]byte) {
	c := msgClass(cap(*v))
	if c >= 0 && cap(*v) == 1<<c {
		msgBuffers[c].Put(v)
	}
}

// takeMsgBuffer returns a buffer holding the message in *body: body's own
// array when it is no larger than the message's size class (no copy; body
// gets a pooled buffer of that class for the next message, and an array
// of another capacity is dropped once read), else a copy.
func takeMsgBuffer(body *[]byte) *[]byte {
	n := len(*body)
	c := msgClass(n)
	if c < swapMinClass || cap(*body) > 1<<c {
		return getMsgBuffer(*body)
	}
	v, ok := msgBuffers[c].Get().(*[]byte)
	if !ok {
		v = new([]byte)
		*v = make([]byte, 0, 1<<c)
	}
	*v, *body = *body, (*v)[:0]
	return v
}
