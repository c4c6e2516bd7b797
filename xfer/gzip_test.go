package xfer_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/teleport-go/teleport/xfer"
)

func gzipFilter(t testing.TB) xfer.XferFilter {
	t.Helper()
	f, err := xfer.Get(xfer.IdGzip)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// gzipStd compresses data with the standard library at level.
func gzipStd(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipZeros compresses n zero bytes, streaming them so that a bomb costs
// little memory to build.
func gzipZeros(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestGzipRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"small text", []byte("hello, teleport")},
		{"random 64KiB", randomBytes(64<<10, 1)},
		{"compressible 3MiB", bytes.Repeat([]byte("0123456789abcdef"), 3<<16)},
		{"random 300KiB", randomBytes(300<<10, 2)},
	}
	for _, f := range []xfer.XferFilter{gzipFilter(t), mustGet(t, idGzip9)} {
		for _, tt := range tests {
			t.Run(f.Name()+"/"+tt.name, func(t *testing.T) {
				orig := bytes.Clone(tt.data)
				packed, err := f.OnPack(tt.data)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(tt.data, orig) {
					t.Fatal("OnPack changed its input")
				}
				// Any gzip reader understands the output.
				std, err := gzip.NewReader(bytes.NewReader(packed))
				if err != nil {
					t.Fatalf("stdlib reader: %v", err)
				}
				if got, err := io.ReadAll(std); err != nil || !bytes.Equal(got, tt.data) {
					t.Fatalf("stdlib reader: %d bytes, %v", len(got), err)
				}
				unpacked, err := f.OnUnpack(packed)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(unpacked, tt.data) {
					t.Fatalf("round trip: %d bytes, want %d", len(unpacked), len(tt.data))
				}
			})
		}
	}
}

func mustGet(t testing.TB, id byte) xfer.XferFilter {
	t.Helper()
	f, err := xfer.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGzipLevel(t *testing.T) {
	// The same input, compressed by the standard library at level 5, gives
	// the same bytes: the default filter uses GzipLevel.
	data := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 2000)
	data = append(data, randomBytes(4096, 3)...)
	got, err := gzipFilter(t).OnPack(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := gzipStd(t, data, xfer.GzipLevel); !bytes.Equal(got, want) {
		t.Errorf("gzip output (%d bytes) differs from level %d (%d bytes)", len(got), xfer.GzipLevel, len(want))
	}
	got9, err := mustGet(t, idGzip9).OnPack(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := gzipStd(t, data, 9); !bytes.Equal(got9, want) {
		t.Errorf("NewGzip(level 9) output differs from the standard library's level 9")
	}
}

func TestGzipUnpackOtherWriters(t *testing.T) {
	f := gzipFilter(t)
	t.Run("gzip command-line file with name and mtime", func(t *testing.T) {
		gz, err := os.ReadFile("testdata/hello.txt.gz")
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("testdata/hello.txt")
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.OnUnpack(gz)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("OnUnpack = %q, want %q", got, want)
		}
	})
	for _, level := range []int{gzip.HuffmanOnly, gzip.NoCompression, gzip.BestSpeed, gzip.BestCompression} {
		t.Run(fmt.Sprintf("stdlib level %d", level), func(t *testing.T) {
			data := bytes.Repeat([]byte("abc"), 10000)
			got, err := f.OnUnpack(gzipStd(t, data, level))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("OnUnpack: %d bytes, %v", len(got), err)
			}
		})
	}
	t.Run("concatenated members", func(t *testing.T) {
		gz := append(gzipStd(t, []byte("first,"), 5), gzipStd(t, []byte("second"), 5)...)
		got, err := f.OnUnpack(gz)
		if err != nil || string(got) != "first,second" {
			t.Fatalf("OnUnpack = %q, %v", got, err)
		}
	})
}

func TestGzipUnpackEmptyInput(t *testing.T) {
	for _, in := range [][]byte{nil, {}} {
		out, err := gzipFilter(t).OnUnpack(in)
		if err != nil || len(out) != 0 {
			t.Errorf("OnUnpack(%q) = %q, %v; want empty, nil", in, out, err)
		}
	}
}

func TestGzipUnpackCorrupt(t *testing.T) {
	valid := gzipStd(t, bytes.Repeat([]byte("some payload "), 100), 5)
	flip := func(i int) []byte {
		b := bytes.Clone(valid)
		b[i] ^= 0xFF
		return b
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"garbage", []byte("this is not gzip data at all")},
		{"one byte", []byte{0x1f}},
		{"magic only", []byte{0x1f, 0x8b}},
		{"header only", valid[:10]},
		{"truncated body", valid[:len(valid)/2]},
		{"missing trailer", valid[:len(valid)-8]},
		{"truncated trailer", valid[:len(valid)-1]},
		{"bad magic", flip(0)},
		{"bad method", flip(2)},
		{"bad crc", flip(len(valid) - 6)},
		{"bad size", flip(len(valid) - 2)},
		{"corrupt deflate", flip(12)},
		{"trailing garbage", append(bytes.Clone(valid), "junk after the member"...)},
	}
	f := gzipFilter(t)
	p := xfer.NewXferPipe()
	if err := p.Append(xfer.IdGzip); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := f.OnUnpack(tt.in); err == nil {
				t.Fatalf("OnUnpack: no error, got %d bytes", len(out))
			}
			if out, err := p.OnUnpack(tt.in); err == nil {
				t.Fatalf("pipe OnUnpack: no error, got %d bytes", len(out))
			}
			// The filter's pooled reader still works afterwards.
			if out, err := f.OnUnpack(valid); err != nil || len(out) != 1300 {
				t.Fatalf("OnUnpack of valid data after a failure = %d bytes, %v", len(out), err)
			}
		})
	}
}

func TestGzipSizeLimit(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name    string
		n       int
		tooBig  bool
		viaPipe bool
	}{
		{"well under", 1000, false, false},
		{"exactly at the limit", limit, false, false},
		{"one over", limit + 1, true, false},
		{"twice the limit", 2 * limit, true, false},
		{"twice the limit through a pipe", 2 * limit, true, true},
		{"exactly at the limit through a pipe", limit, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gz := gzipZeros(t, tt.n)
			setLimit(t, limit)
			var out []byte
			var err error
			if tt.viaPipe {
				p := xfer.NewXferPipe()
				if err := p.Append(xfer.IdGzip); err != nil {
					t.Fatal(err)
				}
				out, err = p.OnUnpack(gz)
			} else {
				out, err = gzipFilter(t).OnUnpack(gz)
			}
			if tt.tooBig {
				if !errors.Is(err, xfer.ErrTooLarge) {
					t.Fatalf("OnUnpack of %d bytes with limit %d: err = %v, want ErrTooLarge", tt.n, limit, err)
				}
				if out != nil {
					t.Fatalf("OnUnpack returned %d bytes with the error", len(out))
				}
				return
			}
			if err != nil {
				t.Fatalf("OnUnpack of %d bytes with limit %d: %v", tt.n, limit, err)
			}
			if len(out) != tt.n {
				t.Fatalf("OnUnpack = %d bytes, want %d", len(out), tt.n)
			}
		})
	}
	t.Run("tiny limit", func(t *testing.T) {
		setLimit(t, 10)
		f := gzipFilter(t)
		if out, err := f.OnUnpack(gzipStd(t, []byte("0123456789"), 5)); err != nil || string(out) != "0123456789" {
			t.Fatalf("10 bytes at limit 10 = %q, %v", out, err)
		}
		if _, err := f.OnUnpack(gzipStd(t, []byte("0123456789A"), 5)); !errors.Is(err, xfer.ErrTooLarge) {
			t.Fatalf("11 bytes at limit 10: err = %v, want ErrTooLarge", err)
		}
	})
}

var bomb64 struct {
	once sync.Once
	gz   []byte
}

// TestGzipBomb inflates 64 MiB of zeros (a ~64 KiB frame) under a 1 MiB
// and a 32 MiB limit: a clear error, and memory bounded by neither the bomb
// nor the limit: the filter keeps at most 1 MiB of output while it counts.
func TestGzipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 64 MiB bomb")
	}
	bomb64.once.Do(func() { bomb64.gz = gzipZeros(t, 64<<20) })
	gz := bomb64.gz
	t.Logf("bomb: %d compressed bytes inflate to 64 MiB", len(gz))
	for _, limit := range []uint32{1 << 20, 32 << 20} {
		t.Run(fmt.Sprintf("limit %d MiB", limit>>20), func(t *testing.T) {
			setLimit(t, limit)
			f := gzipFilter(t)
			_, _ = f.OnUnpack(gzipStd(t, []byte("warm the reader pool"), 5))

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out, err := f.OnUnpack(gz)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, xfer.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if out != nil {
				t.Fatalf("%d bytes returned with the error", len(out))
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			// Doubling up to 1 MiB from 4x the input, plus the pooled
			// inflater if the GC emptied the pool, plus what the race
			// detector adds.
			bound := uint64(2<<20 + 8*len(gz) + 512<<10)
			t.Logf("inflating the bomb allocated %d bytes (bound %d)", alloc, bound)
			if alloc > bound {
				t.Errorf("inflating the bomb allocated %d bytes, want at most %d", alloc, bound)
			}
		})
	}
}

// gzipSyncFlushed writes each part and a sync flush after it, and stops
// there as teleport v3.0 does: no final block, no trailer. It returns the
// stream and the offsets at which each flush marker ends.
func gzipSyncFlushed(t testing.TB, parts ...[]byte) ([]byte, []int) {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, 5)
	var marks []int
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		marks = append(marks, buf.Len())
	}
	return bytes.Clone(buf.Bytes()), marks
}

// TestGzipUnpackSyncFlushed reads streams as teleport v3.0 ends them, and
// refuses every cut of such a stream but those right after a flush marker.
func TestGzipUnpackSyncFlushed(t *testing.T) {
	f := gzipFilter(t)
	first := bytes.Repeat([]byte("teleport v3.0 "), 40)
	second := randomBytes(3000, 7)
	tests := []struct {
		name  string
		parts [][]byte
	}{
		{"empty", [][]byte{nil}},
		{"one byte", [][]byte{{'x'}}},
		{"text", [][]byte{first}},
		{"two flushes", [][]byte{first, second}},
		{"over inlineMax", [][]byte{bytes.Repeat([]byte("z"), 3<<20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gz, _ := gzipSyncFlushed(t, tt.parts...)
			got, err := f.OnUnpack(gz)
			if err != nil {
				t.Fatalf("OnUnpack: %v", err)
			}
			if want := bytes.Join(tt.parts, nil); !bytes.Equal(got, want) {
				t.Fatalf("OnUnpack = %d bytes, want %d", len(got), len(want))
			}
		})
	}
	t.Run("every cut", func(t *testing.T) {
		gz, marks := gzipSyncFlushed(t, first, second)
		for cut := 1; cut < len(gz); cut++ {
			got, err := f.OnUnpack(gz[:cut])
			switch {
			case cut == marks[0]:
				if err != nil || !bytes.Equal(got, first) {
					t.Fatalf("cut right after the first flush: %d bytes, %v; want the first part", len(got), err)
				}
			case err == nil:
				t.Fatalf("cut at %d of %d (flushes end at %v): no error, %d bytes", cut, len(gz), marks, len(got))
			case !errors.Is(err, xfer.ErrGzip):
				t.Fatalf("cut at %d: err = %v, want ErrGzip", cut, err)
			}
		}
	})
	t.Run("complete after a flush", func(t *testing.T) {
		// A writer that flushes, then closes: flush markers in the middle
		// of a complete stream are nothing special.
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(first)
		_ = w.Flush()
		_, _ = w.Write(second)
		_ = w.Close()
		got, err := f.OnUnpack(buf.Bytes())
		if err != nil || !bytes.Equal(got, append(bytes.Clone(first), second...)) {
			t.Fatalf("OnUnpack = %d bytes, %v", len(got), err)
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		setLimit(t, 1000)
		gz, _ := gzipSyncFlushed(t, bytes.Repeat([]byte("a"), 1001))
		if _, err := f.OnUnpack(gz); !errors.Is(err, xfer.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
}

func TestGzipConcurrent(t *testing.T) {
	f := gzipFilter(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				data := append(bytes.Repeat([]byte{byte(g)}, 1000*i), randomBytes(100, int64(g*1000+i))...)
				packed, err := f.OnPack(data)
				if err != nil {
					t.Error(err)
					return
				}
				out, err := f.OnUnpack(packed)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(out, data) {
					t.Errorf("goroutine %d round %d: data mixed up", g, i)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func BenchmarkGzipOnPack(b *testing.B) {
	f := gzipFilter(b)
	data := bytes.Repeat([]byte("benchmark payload "), 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := f.OnPack(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGzipOnUnpack(b *testing.B) {
	f := gzipFilter(b)
	data := bytes.Repeat([]byte("benchmark payload "), 64)
	gz := gzipStd(b, data, 5)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := f.OnUnpack(gz); err != nil {
			b.Fatal(err)
		}
	}
}
