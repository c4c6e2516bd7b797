package socket

import (
	"bytes"
	"testing"
)

// TestWriteQueueSegments: every segment is the buffer of one of the
// frames queued, so a lone small frame is written from its own buffer
// (before, every flush copied small frames into a 64 KiB buffer of
// another pool, so 1 000 connections flushing at once held 64 MiB); small
// frames that queue together share a segment that grows with them, up to
// tailMax; a large frame is a segment of its own, never copied.
func TestWriteQueueSegments(t *testing.T) {
	frame := func(n int, b byte) *[]byte {
		f := getWriteBuffer()
		*f = append(*f, bytes.Repeat([]byte{b}, n)...)
		return f
	}
	tests := []struct {
		name     string
		sizes    []int
		wantSegs []int // the bytes of each segment
	}{
		{"one small frame", []int{600}, []int{600}},
		{"small frames together", []int{600, 600, 600}, []int{1800}},
		{"a large frame alone", []int{tailMax}, []int{tailMax}},
		{"small, large, small", []int{600, tailMax/4 + 1, 600}, []int{600, tailMax/4 + 1, 600}},
		{"small frames past tailMax", []int{tailMax / 4, tailMax / 4, tailMax / 4, tailMax / 4, 600}, []int{tailMax, 600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := writeQueues.Get().(*writeQueue)
			var want bytes.Buffer
			queued := map[*[]byte]bool{}
			for i, n := range tt.sizes {
				f := frame(n, byte('a'+i))
				want.Write(*f)
				queued[f] = true
				q.add(f)
			}
			var got []int
			var all bytes.Buffer
			for _, s := range q.segs {
				got = append(got, len(s))
				all.Write(s)
			}
			if !bytes.Equal(all.Bytes(), want.Bytes()) {
				t.Fatal("the segments do not hold the frames in order")
			}
			if len(got) != len(tt.wantSegs) {
				t.Fatalf("segments of %v bytes, want %v", got, tt.wantSegs)
			}
			for i := range got {
				if got[i] != tt.wantSegs[i] {
					t.Fatalf("segments of %v bytes, want %v", got, tt.wantSegs)
				}
			}
			for i, b := range q.owned {
				if !queued[b] {
					t.Fatalf("segment %d is a buffer of its own, not a frame's", i)
				}
			}
			if q.n != want.Len() || q.frames != len(tt.sizes) {
				t.Fatalf("n %d, frames %d; want %d, %d", q.n, q.frames, want.Len(), len(tt.sizes))
			}
			q.release()
		})
	}
}
