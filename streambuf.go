package tp

import (
	"math/bits"
	"sync"
)

// A stream message waits in its stream's queue in a buffer of its own,
// taken from a pool by size class (powers of two from 256 bytes to
// 64 MiB), copied from the reader's buffer, and given back once Recv has
// decoded or copied it out. A stream carrying large messages then reuses
// warm memory instead of allocating and faulting in fresh pages for every
// message, and a buffer is never more than twice its message, so the
// window still bounds what a stalled stream holds.
const (
	minMsgClass = 8  // 256 bytes
	maxMsgClass = 26 // 64 MiB
)

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
