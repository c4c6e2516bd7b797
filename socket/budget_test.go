package socket

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/teleport-go/teleport/utils"
)

// A read limit refuses a frame on its size field, before any of it is
// read; frames within it are read.
func TestReadLimit(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			w, r := socketPair(t, transport)
			r.(*socket).SetReadLimit(1 << 10)
			sent := make(chan error, 2)
			go func() {
				sent <- w.WritePacket(NewPacket(WithUri("/small"), WithBody("x")))
				sent <- w.WritePacket(NewPacket(WithUri("/large"), WithBody(string(make([]byte, 4<<10)))))
			}()
			p := NewPacket()
			if err := r.ReadPacket(p); err != nil || p.Uri() != "/small" {
				t.Fatalf("a frame within the limit: %q, %v", p.Uri(), err)
			}
			err := r.ReadPacket(NewPacket())
			if !errors.Is(err, ErrExceedPacketSizeLimit) {
				t.Fatalf("a frame past the limit: %v, want ErrExceedPacketSizeLimit", err)
			}
			r.Close()
			<-sent
			<-sent
		})
	}
}

// Frames being read take from the budget as their buffers grow and give
// it back once decoded; one that would pass it fails with ErrFrameBudget,
// and frames that fit the read-ahead buffer take none.
func TestFrameBudget(t *testing.T) {
	b := NewFrameBudget(100 << 10)
	tests := []struct {
		name    string
		arrived int
		size    int
		want    error
	}{
		{"within the budget", 60 << 10, 60 << 10, nil},
		{"past the budget", 150 << 10, 150 << 10, ErrFrameBudget},
		{"declared past it, little arrived", 10, 1 << 30, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(utils.ByteBuffer) // not the pool's: other tests measure its buffers
			taken, err := readFrameRest(bytes.NewReader(make([]byte, tt.arrived)), buf, tt.size, b)
			if !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if b.InUse() != taken {
				t.Fatalf("%d in use, %d taken", b.InUse(), taken)
			}
			if taken > b.Limit() {
				t.Fatalf("%d taken, budget %d", taken, b.Limit())
			}
			b.give(taken)
			if b.InUse() != 0 {
				t.Fatalf("%d in use after giving back", b.InUse())
			}
		})
	}
	t.Run("shared by concurrent frames", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := new(utils.ByteBuffer)
				taken, err := readFrameRest(bytes.NewReader(make([]byte, 40<<10)), buf, 40<<10, b)
				if err != nil && !errors.Is(err, ErrFrameBudget) {
					t.Errorf("frame %d: %v", i, err)
				}
				if b.InUse() > b.Limit() {
					t.Errorf("%d in use, budget %d", b.InUse(), b.Limit())
				}
				b.give(taken)
			}()
		}
		wg.Wait()
		if b.InUse() != 0 {
			t.Fatalf("%d in use at the end", b.InUse())
		}
	})
}
