package socket

import (
	"io"
	"net"
	"sync"
)

// tailMax bounds the segment small frames are appended to: past it, or
// for a larger frame, a frame is queued as a segment of its own, so that no
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
	// tailIsSmall says that the last segment is a small frame's buffer,
	// which the next small frames are appended to.
	tailIsSmall bool
}

var writeQueues = sync.Pool{New: func() any { return new(writeQueue) }}

// add queues frame, a pooled buffer it takes over. A small frame joins
// the last segment when that one holds small frames and has room under
// tailMax (its buffer grows with the batch); a large frame, or a small
// one with no such segment, is a segment of its own. So a lone frame is
// written from its own buffer: a connection holds a buffer the size of a
// batch only while it has one (with one buffer of 64 KiB per flush,
// 1 000 connections flushing at once held 64 MiB).
func (q *writeQueue) add(frame *[]byte) {
	q.n += len(*frame)
	q.frames++
	small := len(*frame) <= tailMax/4
	if k := len(q.owned); small && q.tailIsSmall && len(*q.owned[k-1])+len(*frame) <= tailMax {
		tail := q.owned[k-1]
		*tail = append(*tail, *frame...)
		q.segs[k-1] = *tail
		putWriteBuffer(frame)
		return
	}
	q.segs = append(q.segs, *frame)
	q.owned = append(q.owned, frame)
	q.tailIsSmall = small
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
		putWriteBuffer(b)
		q.owned[i], q.segs[i] = nil, nil
	}
	q.owned, q.segs, q.n, q.frames, q.tailIsSmall = q.owned[:0], q.segs[:0], 0, 0, false
	writeQueues.Put(q)
}
