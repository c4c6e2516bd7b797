package xfer_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/xfer"
)

func checkPipe(t *testing.T, p *xfer.XferPipe, wantIds []byte) {
	t.Helper()
	if p.Len() != len(wantIds) {
		t.Fatalf("Len() = %d, want %d", p.Len(), len(wantIds))
	}
	if !bytes.Equal(p.Ids(), wantIds) {
		t.Fatalf("Ids() = %q, want %q", p.Ids(), wantIds)
	}
	names := p.Names()
	if len(names) != len(wantIds) {
		t.Fatalf("Names() = %q, want %d names", names, len(wantIds))
	}
	for i, id := range wantIds {
		f, err := xfer.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if names[i] != f.Name() {
			t.Fatalf("Names()[%d] = %q, want %q", i, names[i], f.Name())
		}
	}
}

func TestPipeZeroValue(t *testing.T) {
	var p xfer.XferPipe
	checkPipe(t, &p, nil)
	in := []byte("data")
	out, err := p.OnPack(in)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("empty OnPack = %q, %v", out, err)
	}
	out, err = p.OnUnpack(in)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("empty OnUnpack = %q, %v", out, err)
	}
	checkPipe(t, xfer.NewXferPipe(), nil)
}

func TestPipeAppend(t *testing.T) {
	tests := []struct {
		name    string
		initial []byte
		add     []byte
		wantErr error
		want    []byte
	}{
		{"nothing", nil, nil, nil, nil},
		{"one", nil, []byte{'g'}, nil, []byte{'g'}},
		{"several keep order", nil, []byte{idReverse, 'g', idAppend}, nil, []byte{idReverse, 'g', idAppend}},
		{"repeated id", nil, []byte{'g', 'g'}, nil, []byte{'g', 'g'}},
		{"onto existing", []byte{'g'}, []byte{idAppend}, nil, []byte{'g', idAppend}},
		{"unknown id", []byte{'g'}, []byte{'z'}, xfer.ErrUnknownFilter, []byte{'g'}},
		{"unknown id after known ones adds nothing", []byte{'g'}, []byte{idAppend, idReverse, 0}, xfer.ErrUnknownFilter, []byte{'g'}},
		{"exactly 255", nil, bytes.Repeat([]byte{'g'}, 255), nil, bytes.Repeat([]byte{'g'}, 255)},
		{"256 at once", nil, bytes.Repeat([]byte{'g'}, 256), xfer.ErrTooManyFilters, nil},
		{"one past 255", bytes.Repeat([]byte{'g'}, 255), []byte{idAppend}, xfer.ErrTooManyFilters, bytes.Repeat([]byte{'g'}, 255)},
		{"many past 255", bytes.Repeat([]byte{'g'}, 200), bytes.Repeat([]byte{idAppend}, 56), xfer.ErrTooManyFilters, bytes.Repeat([]byte{'g'}, 200)},
		{"nothing onto full", bytes.Repeat([]byte{'g'}, 255), nil, nil, bytes.Repeat([]byte{'g'}, 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := xfer.NewXferPipe()
			if err := p.Append(tt.initial...); err != nil {
				t.Fatal(err)
			}
			err := p.Append(tt.add...)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Append: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Append error = %v, want %v", err, tt.wantErr)
			}
			checkPipe(t, p, tt.want)
		})
	}
}

func TestPipeAppendFrom(t *testing.T) {
	tests := []struct {
		name     string
		dst, src []byte
		want     []byte
	}{
		{"empty from empty", nil, nil, nil},
		{"into empty", nil, []byte{'g', idAppend}, []byte{'g', idAppend}},
		{"after existing", []byte{idReverse}, []byte{'g', idAppend}, []byte{idReverse, 'g', idAppend}},
		{"empty source", []byte{'g'}, nil, []byte{'g'}},
		{"capped at 255", bytes.Repeat([]byte{'g'}, 200), bytes.Repeat([]byte{idAppend}, 100),
			append(bytes.Repeat([]byte{'g'}, 200), bytes.Repeat([]byte{idAppend}, 55)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, src := xfer.NewXferPipe(), xfer.NewXferPipe()
			if err := dst.Append(tt.dst...); err != nil {
				t.Fatal(err)
			}
			if err := src.Append(tt.src...); err != nil {
				t.Fatal(err)
			}
			dst.AppendFrom(src)
			checkPipe(t, dst, tt.want)
			checkPipe(t, src, tt.src)

			// The pipes stay independent.
			src.Reset()
			checkPipe(t, dst, tt.want)
		})
	}
	t.Run("from itself", func(t *testing.T) {
		p := xfer.NewXferPipe()
		if err := p.Append('g', idAppend); err != nil {
			t.Fatal(err)
		}
		p.AppendFrom(p)
		checkPipe(t, p, []byte{'g', idAppend, 'g', idAppend})
	})
}

func TestPipeReset(t *testing.T) {
	p := xfer.NewXferPipe()
	if err := p.Append('g', idAppend, idReverse); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	checkPipe(t, p, nil)
	if out, err := p.OnPack([]byte("x")); err != nil || string(out) != "x" {
		t.Fatalf("OnPack after Reset = %q, %v", out, err)
	}
	if err := p.Append(idReverse); err != nil {
		t.Fatal(err)
	}
	checkPipe(t, p, []byte{idReverse})
}

func TestPipeOrder(t *testing.T) {
	tests := []struct {
		name   string
		ids    []byte
		in     string
		packed string
	}{
		// The last listed filter is applied first: the first is outer-most.
		{"append outside reverse", []byte{idAppend, idReverse}, "abc", "cba!"},
		{"reverse outside append", []byte{idReverse, idAppend}, "abc", "!cba"},
		{"append reverse append", []byte{idAppend, idReverse, idAppend}, "ab", "!ba!"},
		{"twice append", []byte{idAppend, idAppend}, "", "!!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := xfer.NewXferPipe()
			if err := p.Append(tt.ids...); err != nil {
				t.Fatal(err)
			}
			in := []byte(tt.in)
			packed, err := p.OnPack(in)
			if err != nil {
				t.Fatal(err)
			}
			if string(packed) != tt.packed {
				t.Fatalf("OnPack(%q) = %q, want %q: the last listed filter must run first", tt.in, packed, tt.packed)
			}
			if string(in) != tt.in {
				t.Fatalf("OnPack changed its input to %q", in)
			}
			unpacked, err := p.OnUnpack(packed)
			if err != nil {
				t.Fatalf("OnUnpack(%q): %v (the first listed filter must be undone first)", packed, err)
			}
			if string(unpacked) != tt.in {
				t.Fatalf("OnUnpack(%q) = %q, want %q", packed, unpacked, tt.in)
			}
		})
	}
	t.Run("with gzip", func(t *testing.T) {
		p := xfer.NewXferPipe()
		if err := p.Append(idAppend, 'g', idReverse, idGzip9); err != nil {
			t.Fatal(err)
		}
		in := bytes.Repeat([]byte("teleport "), 100)
		packed, err := p.OnPack(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.OnUnpack(packed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip through %q lost data", p.Names())
		}
	})
}

func TestPipeFilterErrors(t *testing.T) {
	tests := []struct {
		name    string
		ids     []byte
		unpack  bool
		in      string
		wantErr error
		inMsg   string
	}{
		{"pack fails", []byte{idAppend, idFail}, false, "x", errTestFail, "test-fail"},
		{"unpack fails", []byte{idFail, idAppend}, true, "x!", errTestFail, "test-fail"},
		{"unpack rejects input", []byte{idAppend}, true, "no marker", errNoMarker, "test-append"},
		{"gzip garbage", []byte{'g'}, true, "not gzip at all", nil, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := xfer.NewXferPipe()
			if err := p.Append(tt.ids...); err != nil {
				t.Fatal(err)
			}
			var out []byte
			var err error
			if tt.unpack {
				out, err = p.OnUnpack([]byte(tt.in))
			} else {
				out, err = p.OnPack([]byte(tt.in))
			}
			if err == nil {
				t.Fatalf("no error, got %q", out)
			}
			if out != nil {
				t.Errorf("output %q returned with error", out)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not name filter %q", err, tt.inMsg)
			}
		})
	}
}

func TestPipeIdsAndNamesAreSnapshots(t *testing.T) {
	p := xfer.NewXferPipe()
	if err := p.Append('g', idAppend); err != nil {
		t.Fatal(err)
	}
	names := p.Names()
	names[0] = "mutated"
	if got := p.Names(); !slices.Equal(got, []string{"gzip", "test-append"}) {
		t.Fatalf("Names() after mutating a previous result = %q", got)
	}
}
