package socket

import (
	"io"
	"net"
	"sync"
)

// tailMax bounds the segment small frames are copied into: past it, or for
// a larger frame, a frame is queued as a segment of its own, so that no
// large frame is copied on its way out.
const tailMax = 64 << 10

// writeQueue holds the frames waiting for a connection's flusher, as a few
// segments written together (one writev where the connection has it).
type writeQueue struct {
	segs  net.Buffers // what is queued, segment by segment
	owned []*[]byte   // the pooled buffer behind each segment
	n     int         // bytes queued
	// frames counts the frames queued.
	frames int
	// tailIsCopy says that the last segment is a tail buffer small frames
	// are copied into, not a large frame of its own.
	tailIsCopy bool
}

var writeQueues = sync.Pool{New: func() any { return new(writeQueue) }}

// tailBuffers pools the segments small frames are copied into, all of
// tailMax bytes, so that queuing never grows one.
var tailBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, tailMax)
	return &b
}}

// add queues frame, a pooled buffer it takes over. A small frame is
// copied into the tail segment (a new one when there is none with room);
// a large one becomes a segment of its own.
func (q *writeQueue) add(frame *[]byte) {
	q.n += len(*frame)
	q.frames++
	if len(*frame) > tailMax/4 {
		q.segs = append(q.segs, *frame)
		q.owned = append(q.owned, frame)
		return
	}
	k := len(q.owned)
	if k == 0 || !q.tailIsCopy || len(*q.owned[k-1])+len(*frame) > tailMax {
		tail := tailBuffers.Get().(*[]byte)
		*tail = (*tail)[:0]
		q.segs = append(q.segs, nil)
		q.owned = append(q.owned, tail)
		k++
	}
	tail := q.owned[k-1]
	*tail = append(*tail, *frame...)
	q.segs[k-1] = *tail
	q.tailIsCopy = true
	putWriteBuffer(frame)
}

// buffersWriter writes several buffers in one call, as the socket does for
// TCP with writev.
type buffersWriter interface {
	WriteBuffers(*net.Buffers) (int64, error)
}

// writeTo writes everything queued to w.
func (q *writeQueue) writeTo(w io.Writer) error {
	if len(q.segs) == 1 {
		_, err := w.Write(q.segs[0])
		return err
	}
	segs := q.segs // WriteTo consumes the copy, not q.segs
	if bw, ok := w.(buffersWriter); ok {
		_, err := bw.WriteBuffers(&segs)
		return err
	}
	_, err := segs.WriteTo(w)
	return err
}

// release gives the buffers and the queue back to their pools.
func (q *writeQueue) release() {
	for i, b := range q.owned {
		if cap(*b) == tailMax {
			tailBuffers.Put(b)
		} else {
			putWriteBuffer(b)
		}
		q.owned[i], q.segs[i] = nil, nil
	}
	q.owned, q.segs, q.n, q.frames, q.tailIsCopy = q.owned[:0], q.segs[:0], 0, 0, false
	writeQueues.Put(q)
}
