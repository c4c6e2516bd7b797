package socket

import (
	"testing"

	"github.com/teleport-go/teleport/internal/loopback"
)

// TestFlushLaterKeepsOrder: frames asked to be flushed later, mixed with
// frames written at once, arrive whole and in order; the goroutine that
// wrote them is gone afterwards (goleak, in TestMain).
func TestFlushLaterKeepsOrder(t *testing.T) {
	c, srv := loopback.TCPPair(t)
	w, r := NewSocket(c), NewSocket(srv)
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			p := GetPacket(WithSeq(uint64(i)), WithPtype(5), WithBodyCodec('s'), WithBody(make([]byte, i%700)))
			p.SetFlushLater(i%7 != 0)
			if err := w.WritePacket(p); err != nil {
				done <- err
				return
			}
			PutPacket(p)
		}
		done <- nil
	}()
	for i := 1; i <= n; i++ {
		p := NewPacket(WithNewBody(func(Header) interface{} { return new([]byte) }))
		if err := r.ReadPacket(p); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if p.Seq() != uint64(i) || len(*p.Body().(*[]byte)) != i%700 {
			t.Fatalf("frame %d: seq %d, %d bytes", i, p.Seq(), len(*p.Body().(*[]byte)))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFlushLaterErrorIsSticky: a write that fails on the goroutine that
// flushes later reaches the next writer.
func TestFlushLaterErrorIsSticky(t *testing.T) {
	c, srv := loopback.TCPPair(t)
	w := NewSocket(c)
	srv.Close()
	_ = c.SetLinger(0)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		p := GetPacket(WithSeq(uint64(i)), WithPtype(5), WithBodyCodec('s'), WithBody(make([]byte, 4096)))
		p.SetFlushLater(true)
		err = w.WritePacket(p)
		PutPacket(p)
	}
	if err == nil {
		t.Fatal("10 000 writes to a closed peer all succeeded")
	}
	w.Close()
}
