package xfer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/sizelimit"
	"github.com/teleport-go/teleport/xfer"
)

// setLimit sets the packet size limit for the rest of the test.
func setLimit(t testing.TB, n uint32) {
	t.Helper()
	sizelimit.Set(n)
	t.Cleanup(func() { sizelimit.Set(sizelimit.Default) })
}

func TestDefaultGzipRegistered(t *testing.T) {
	if xfer.IdGzip != 'g' || xfer.NameGzip != "gzip" || xfer.GzipLevel != 5 {
		t.Fatalf("gzip identity = %q %q %d, want 'g' \"gzip\" 5", xfer.IdGzip, xfer.NameGzip, xfer.GzipLevel)
	}
	f, err := xfer.Get('g')
	if err != nil {
		t.Fatal(err)
	}
	if f.Id() != 'g' || f.Name() != "gzip" {
		t.Errorf("Get('g') = {%q, %q}", f.Id(), f.Name())
	}
	f, err = xfer.GetByName("gzip")
	if err != nil {
		t.Fatal(err)
	}
	if f.Id() != 'g' {
		t.Errorf("GetByName(gzip).Id() = %q", f.Id())
	}
}

func TestGetUnknown(t *testing.T) {
	for _, id := range []byte{0, 'z', 0xFF} {
		t.Run(fmt.Sprintf("id=%d", id), func(t *testing.T) {
			f, err := xfer.Get(id)
			if f != nil || !errors.Is(err, xfer.ErrUnknownFilter) {
				t.Fatalf("Get(%d) = %v, %v; want ErrUnknownFilter", id, f, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(id)) {
				t.Errorf("error %q does not name id %d", err, id)
			}
		})
	}
	for _, name := range []string{"", "nope", "GZIP"} {
		t.Run("name="+name, func(t *testing.T) {
			f, err := xfer.GetByName(name)
			if f != nil || !errors.Is(err, xfer.ErrUnknownFilter) {
				t.Fatalf("GetByName(%q) = %v, %v; want ErrUnknownFilter", name, f, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Errorf("error %q does not name %q", err, name)
			}
		})
	}
}

// regPanic calls xfer.Reg(f) and returns the panic message, "" if none.
func regPanic(f xfer.XferFilter) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	xfer.Reg(f)
	return ""
}

func TestRegPanics(t *testing.T) {
	tests := []struct {
		name  string
		f     xfer.XferFilter
		wants []string
	}{
		{"duplicate id", fakeFilter{'g', "other-gzip"}, []string{"other-gzip", `"gzip"`}},
		{"duplicate test id", fakeFilter{idAppend, "another"}, []string{"another", "test-append"}},
		{"duplicate name", fakeFilter{0xF7, "gzip"}, []string{`"gzip"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := regPanic(tt.f)
			if msg == "" {
				t.Fatalf("Reg(%+v) did not panic", tt.f)
			}
			for _, w := range tt.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("panic %q does not mention %q", msg, w)
				}
			}
		})
	}
	if f, err := xfer.Get('g'); err != nil || f.Name() != "gzip" {
		t.Errorf("Get('g') after refused Reg = %v, %v", f, err)
	}
	if f, err := xfer.Get(0xF7); err == nil {
		t.Errorf("refused filter registered under 0xF7: %v", f)
	}
}

func TestNewGzipBadLevelPanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("NewGzip with level 42 did not panic")
		}
		if !strings.Contains(fmt.Sprint(r), "bad-level") {
			t.Errorf("panic %q does not name the filter", r)
		}
	}()
	xfer.NewGzip(0xF8, "bad-level", 42)
}

func TestMaxUnpackSize(t *testing.T) {
	if got := xfer.MaxUnpackSize(); got != int(sizelimit.Default) {
		t.Fatalf("default MaxUnpackSize() = %d, want %d", got, sizelimit.Default)
	}
	setLimit(t, 12345)
	if got := xfer.MaxUnpackSize(); got != 12345 {
		t.Fatalf("MaxUnpackSize() = %d, want 12345", got)
	}
	sizelimit.Set(0)
	if got := xfer.MaxUnpackSize(); got != int(sizelimit.Default) {
		t.Fatalf("after Set(0) MaxUnpackSize() = %d, want the default", got)
	}
}
