package xfer_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/teleport-go/teleport/xfer"
)

// FuzzGzipUnpack feeds arbitrary frame payloads, as a hostile peer may send
// them, to the gzip filter. It must never panic nor produce more than the
// size limit; what it accepts must survive OnPack → OnUnpack.
// Seeds beyond the ones below live in testdata/fuzz/FuzzGzipUnpack.
func FuzzGzipUnpack(f *testing.F) {
	const limit = 64 << 10
	f.Add([]byte{})
	f.Add([]byte("not gzip"))
	f.Add(gzipStd(f, []byte("hello, teleport"), 5))
	f.Add(gzipStd(f, nil, 5))
	f.Add(gzipStd(f, bytes.Repeat([]byte{0}, limit+1), 9))
	f.Add(append(gzipStd(f, []byte("a"), 1), gzipStd(f, []byte("b"), 1)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		setLimit(t, limit)
		g := gzipFilter(t)
		out, err := g.OnUnpack(in)
		if err != nil {
			if out != nil {
				t.Fatalf("OnUnpack returned %d bytes with error %v", len(out), err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("OnUnpack produced %d bytes, over the limit %d", len(out), limit)
		}
		out = bytes.Clone(out)
		packed, err := g.OnPack(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := g.OnUnpack(packed)
		if err != nil {
			t.Fatalf("OnUnpack of our own OnPack output: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("round trip changed %d bytes into %d", len(out), len(again))
		}
	})
}

// TestGzipUnpackOverLimitFuzzSeed is the size-limit seed of FuzzGzipUnpack
// as a regular test: ErrTooLarge, not a partial result.
func TestGzipUnpackOverLimitFuzzSeed(t *testing.T) {
	setLimit(t, 64<<10)
	_, err := gzipFilter(t).OnUnpack(gzipStd(t, bytes.Repeat([]byte{0}, 64<<10+1), 9))
	if !errors.Is(err, xfer.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
