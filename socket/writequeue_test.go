package socket

import (
	"bytes"
	"testing"
)

// TestWriteQueueSegments: a lone small frame is written from its own
// buffer (before, every flush copied its frames into a 64 KiB tail
// buffer, so 1 000 connections flushing a frame each at once held
// 64 MiB); small frames that queue together are copied into a tail, up to
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
		wantSegs []int  // the bytes of each segment
		wantOwn  []bool // whether each segment is a queued frame's buffer (else a tail)
	}{
		{"one small frame", []int{600}, []int{600}, []bool{true}},
		{"small frames together", []int{600, 600, 600}, []int{1800}, []bool{false}},
		{"a large frame alone", []int{tailMax}, []int{tailMax}, []bool{true}},
		{"small, large, small", []int{600, tailMax/4 + 1, 600}, []int{600, tailMax/4 + 1, 600}, []bool{true, true, true}},
		{"small frames past tailMax", []int{tailMax / 4, tailMax / 4, tailMax / 4, tailMax / 4, 600}, []int{tailMax, 600}, []bool{false, true}},
		{"large, then small frames", []int{tailMax/4 + 1, 600, 600}, []int{tailMax/4 + 1, 1200}, []bool{true, false}},
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
				switch {
				case tt.wantOwn[i] && !queued[b]:
					t.Fatalf("segment %d is a copy, not the frame's own buffer", i)
				case !tt.wantOwn[i] && (queued[b] || cap(*b) != tailMax):
					t.Fatalf("segment %d is not a tail buffer", i)
				}
			}
			if q.n != want.Len() || q.frames != len(tt.sizes) {
				t.Fatalf("n %d, frames %d; want %d, %d", q.n, q.frames, want.Len(), len(tt.sizes))
			}
			q.release()
		})
	}
}
