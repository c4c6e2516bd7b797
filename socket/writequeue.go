package socket

import (
	"io"
	"net"
	"sync"
)

// tailMax bounds the segment small frames are copied into: past it, or
// for a larger frame, a frame is queued as a segment of its own, so that no
// large frame is copied on its way out.
const tailMax = 64 << 10

// segKind tells what the last segment of a writeQueue is.
type segKind uint8

const (
	segNone  segKind = iota // no segment, or a large frame's buffer
	segFrame                // a small frame's own buffer
	segTail                 // a tail buffer small frames were copied into
)

// writeQueue holds the frames waiting for a connection's flusher, as a few
// segments written together (one writev where the connection has it).
type writeQueue struct {
	segs  net.Buffers // what is queued, segment by segment
	owned []*[]byte   // the pooled buffer behind each segment
	n     int         // bytes queued
	// frames counts the frames queued.
	frames int
	last   segKind
}

var writeQueues = sync.Pool{New: func() any { return new(writeQueue) }}

// tailBuffers pools the segments small frames are copied into, all of
// tailMax bytes, so that queuing never grows one.
var tailBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, tailMax)
	return &b
}}

// add queues frame, a pooled buffer it takes over. A lone small frame is
// a segment of its own, written from its buffer; once a second one joins
// it, both are copied into a tail buffer, which the next small frames
// join while it has room. A large frame is a segment of its own. So a
// connection takes a tail buffer only while it has a batch (with one per
// flush, 1 000 connections flushing a frame each at once held 64 MiB).
func (q *writeQueue) add(frame *[]byte) {
	q.n += len(*frame)
	q.frames++
	k := len(q.owned)
	if len(*frame) > tailMax/4 || k == 0 || q.last == segNone || len(*q.owned[k-1])+len(*frame) > tailMax {
		q.segs = append(q.segs, *frame)
		q.owned = append(q.owned, frame)
		q.last = segFrame
		if len(*frame) > tailMax/4 {
			q.last = segNone
		}
		return
	}
	if q.last == segFrame {
		// The second small frame: the first moves into a tail buffer.
		tail := tailBuffers.Get().(*[]byte)
		*tail = append((*tail)[:0], *q.owned[k-1]...)
		putWriteBuffer(q.owned[k-1])
		q.owned[k-1] = tail
		q.last = segTail
	}
	tail := q.owned[k-1]
	*tail = append(*tail, *frame...)
	q.segs[k-1] = *tail
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
	segs := q.segs // WriteTo consumes this header (and nils the elements it wrote); release goes by q.owned
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
	q.owned, q.segs, q.n, q.frames, q.last = q.owned[:0], q.segs[:0], 0, 0, segNone
	writeQueues.Put(q)
}
