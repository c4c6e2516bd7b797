package socket

import (
	"bytes"
	"github.com/teleport-go/teleport/internal/israce"
	"io"
	"testing"

	"github.com/teleport-go/teleport/codec"
)

// body581 has the size of the marshalled message of the common Go RPC
// benchmark.
var body581 = bytes.Repeat([]byte("x"), 581)

// body581Boxed is body581 already in an interface: boxing a slice
// allocates, and that belongs to the caller's body, not to the framing.
var body581Boxed interface{} = body581

// loopRW writes into a buffer and reads back what was written, so frames
// go round in memory without a second goroutine.
type loopRW struct{ bytes.Buffer }

// The framing must not allocate per packet in steady state: the pooled
// frame buffers, the metadata and the URI cache are all reused.
func TestFramingDoesNotAllocate(t *testing.T) {
	var rw loopRW
	proto := NewFastProtoFunc(&rw)
	out := NewPacket()
	in := NewPacket()
	var body []byte
	newBody := func(Header) interface{} { return &body }
	roundTrip := func() {
		setBenchPacket(out, 1)
		out.Meta().Set("k", "v")
		if err := proto.Pack(out); err != nil {
			t.Fatal(err)
		}
		in.Reset()
		in.SetNewBody(newBody)
		if err := proto.Unpack(in); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	// Under the race detector sync.Pool drops items at random, and each
	// drop costs an allocation: only a loose bound holds there.
	want := 0.0
	if israce.Enabled {
		want = 2
	}
	if allocs := testing.AllocsPerRun(200, roundTrip); allocs > want {
		t.Fatalf("Pack+Unpack allocated %.1f times per packet, want %.0f", allocs, want)
	}
	if !bytes.Equal(body, body581) || in.Uri() != "/home/test_add?trace=1" {
		t.Fatalf("round trip changed the packet: %s", in)
	}
}

// setBenchPacket fills p through setters: the With* settings are closures,
// which allocate, and this measures the framing alone.
func setBenchPacket(p *Packet, seq uint64) {
	p.Reset()
	p.SetSeq(seq)
	p.SetPtype(1)
	p.SetUri("/home/test_add?trace=1")
	p.SetBodyCodec(codec.IdString)
	p.SetBody(body581Boxed)
}

// BenchmarkPackUnpack sends 581-byte bodies one way through a connected
// pair, the writer and the reader on their own goroutines.
func BenchmarkPackUnpack(b *testing.B) {
	for _, transport := range transports {
		b.Run(transport, func(b *testing.B) {
			w, r := socketPair(b, transport)
			b.ReportAllocs()
			b.SetBytes(int64(len(body581)))
			done := make(chan error, 1)
			go func() {
				p := NewPacket()
				var body []byte
				newBody := func(Header) interface{} { return &body }
				for i := 0; i < b.N; i++ {
					p.Reset()
					p.SetNewBody(newBody)
					if err := r.ReadPacket(p); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			p := NewPacket()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				setBenchPacket(p, uint64(i))
				if err := w.WritePacket(p); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPackUnpackParallel has many writers share one socket, the case
// the coalescing write path is built for.
func BenchmarkPackUnpackParallel(b *testing.B) {
	w, r := socketPair(b, "tcp")
	b.ReportAllocs()
	b.SetBytes(int64(len(body581)))
	stop := make(chan struct{})
	go func() {
		p := NewPacket()
		var body []byte
		newBody := func(Header) interface{} { return &body }
		for {
			p.Reset()
			p.SetNewBody(newBody)
			if r.ReadPacket(p) != nil {
				close(stop)
				return
			}
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		p := NewPacket()
		for pb.Next() {
			setBenchPacket(p, 0)
			if err := w.WritePacket(p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	w.Close()
	<-stop
}

type benchArgs struct {
	A, B int
	Name string
	Tags []string
}

// BenchmarkCodecRoundTrip measures the body codecs on their own, the part
// of a packet's cost that framing does not control.
func BenchmarkCodecRoundTrip(b *testing.B) {
	for _, id := range []byte{codec.IdJSON, codec.IdString} {
		c, _ := codec.Get(id)
		b.Run(c.Name(), func(b *testing.B) {
			var in interface{} = &benchArgs{A: 1, B: 2, Name: "teleport", Tags: []string{"a", "b"}}
			out := func() interface{} { return new(benchArgs) }
			if id == codec.IdString {
				in = body581
				out = func() interface{} { return new([]byte) }
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				data, err := c.Marshal(in)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Unmarshal(data, out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var _ io.ReadWriter = (*loopRW)(nil)
