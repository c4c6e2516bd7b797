package utils_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/teleport-go/teleport/utils"
)

// ByteBuffer is used wherever frames are written.
var (
	_ io.Writer       = (*utils.ByteBuffer)(nil)
	_ io.StringWriter = (*utils.ByteBuffer)(nil)
	_ io.ByteWriter   = (*utils.ByteBuffer)(nil)
)

func TestByteBufferWrites(t *testing.T) {
	tests := []struct {
		name string
		do   func(b *utils.ByteBuffer)
		want string
	}{
		{"nothing", func(b *utils.ByteBuffer) {}, ""},
		{"write", func(b *utils.ByteBuffer) { b.Write([]byte("abc")) }, "abc"},
		{"write nil", func(b *utils.ByteBuffer) { b.Write(nil) }, ""},
		{"write string", func(b *utils.ByteBuffer) { b.WriteString("héllo") }, "héllo"},
		{"write byte", func(b *utils.ByteBuffer) { b.WriteByte('x'); b.WriteByte(0) }, "x\x00"},
		{"mixed", func(b *utils.ByteBuffer) {
			b.WriteString("a")
			b.Write([]byte("bc"))
			b.WriteByte('d')
		}, "abcd"},
		{"reset in the middle", func(b *utils.ByteBuffer) {
			b.WriteString("gone")
			b.Reset()
			b.WriteString("kept")
		}, "kept"},
		{"grow keeps content", func(b *utils.ByteBuffer) {
			b.WriteString("abc")
			b.Grow(1 << 16)
			b.WriteString("def")
		}, "abcdef"},
		{"large", func(b *utils.ByteBuffer) {
			for i := 0; i < 1000; i++ {
				b.WriteString("0123456789")
			}
		}, string(bytes.Repeat([]byte("0123456789"), 1000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := new(utils.ByteBuffer)
			tt.do(b)
			if string(b.B) != tt.want {
				t.Errorf("B = %q, want %q", b.B, tt.want)
			}
			if b.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", b.Len(), len(tt.want))
			}
		})
	}
}

func TestByteBufferReturnValues(t *testing.T) {
	var b utils.ByteBuffer
	if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
		t.Errorf("Write = %d, %v; want 3, nil", n, err)
	}
	if n, err := b.WriteString("de"); n != 2 || err != nil {
		t.Errorf("WriteString = %d, %v; want 2, nil", n, err)
	}
	if err := b.WriteByte('f'); err != nil {
		t.Errorf("WriteByte = %v", err)
	}
	// Usable as an io.Writer destination.
	if _, err := io.Copy(&b, bytes.NewReader([]byte("ghi"))); err != nil {
		t.Fatal(err)
	}
	if string(b.B) != "abcdefghi" {
		t.Errorf("B = %q", b.B)
	}
}

func TestByteBufferGrow(t *testing.T) {
	for _, n := range []int{0, 1, 100, 4096, 1 << 20} {
		b := new(utils.ByteBuffer)
		b.WriteString("xy")
		b.Grow(n)
		if free := cap(b.B) - len(b.B); free < n {
			t.Fatalf("Grow(%d): %d bytes free", n, free)
		}
		chunk := bytes.Repeat([]byte{'z'}, n)
		allocs := testing.AllocsPerRun(1, func() {
			b.B = b.B[:2]
			b.Write(chunk)
		})
		if allocs != 0 {
			t.Errorf("Grow(%d) then writing %d bytes: %v allocs, want 0", n, n, allocs)
		}
		if string(b.B[:2]) != "xy" || b.Len() != n+2 {
			t.Errorf("Grow(%d) lost content", n)
		}
	}
}

func TestByteBufferPool(t *testing.T) {
	for i := 0; i < 10; i++ {
		b := utils.AcquireByteBuffer()
		if b.Len() != 0 {
			t.Fatalf("round %d: acquired buffer holds %q", i, b.B)
		}
		b.WriteString("some frame bytes")
		utils.ReleaseByteBuffer(b)
	}
	// A huge buffer may be dropped rather than pooled; either way releasing
	// it is safe and the next buffer is empty.
	big := utils.AcquireByteBuffer()
	big.Grow(4 << 20)
	big.Write(make([]byte, 4<<20))
	utils.ReleaseByteBuffer(big)
	if b := utils.AcquireByteBuffer(); b.Len() != 0 {
		t.Fatalf("acquired buffer after a big release holds %d bytes", b.Len())
	}
}
