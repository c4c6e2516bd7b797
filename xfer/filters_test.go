package xfer_test

import (
	"bytes"
	"errors"
	"slices"

	"github.com/teleport-go/teleport/xfer"
)

// Test filter ids, chosen far from the printable ids real filters use.
const (
	idAppend  byte = 0xA1
	idReverse byte = 0xA2
	idFail    byte = 0xA3
	idGzip9   byte = 0xA4
)

// Filters are registered once per process, at init, because Reg panics on
// a duplicate: -count=N must still pass.
func init() {
	xfer.Reg(appendFilter{})
	xfer.Reg(reverseFilter{})
	xfer.Reg(failFilter{})
	xfer.Reg(xfer.NewGzip(idGzip9, "test-gzip9", 9))
}

// appendFilter appends a marker byte on pack and checks and strips it on
// unpack; with reverseFilter it makes the order of a pipe observable.
type appendFilter struct{}

var errNoMarker = errors.New("test-append: marker missing")

func (appendFilter) Id() byte     { return idAppend }
func (appendFilter) Name() string { return "test-append" }
func (appendFilter) OnPack(b []byte) ([]byte, error) {
	return append(slices.Clip(b), '!'), nil
}
func (appendFilter) OnUnpack(b []byte) ([]byte, error) {
	if len(b) == 0 || b[len(b)-1] != '!' {
		return nil, errNoMarker
	}
	return b[:len(b)-1], nil
}

// reverseFilter reverses the bytes, into a new slice.
type reverseFilter struct{}

func (reverseFilter) Id() byte     { return idReverse }
func (reverseFilter) Name() string { return "test-reverse" }
func (reverseFilter) OnPack(b []byte) ([]byte, error) {
	out := bytes.Clone(b)
	slices.Reverse(out)
	return out, nil
}
func (f reverseFilter) OnUnpack(b []byte) ([]byte, error) { return f.OnPack(b) }

// failFilter always fails.
type failFilter struct{}

var errTestFail = errors.New("test-fail: refused")

func (failFilter) Id() byte                        { return idFail }
func (failFilter) Name() string                    { return "test-fail" }
func (failFilter) OnPack([]byte) ([]byte, error)   { return nil, errTestFail }
func (failFilter) OnUnpack([]byte) ([]byte, error) { return nil, errTestFail }

// fakeFilter has any identity; it is only passed to Reg where Reg must
// panic before changing the registry.
type fakeFilter struct {
	id   byte
	name string
}

func (f fakeFilter) Id() byte                          { return f.id }
func (f fakeFilter) Name() string                      { return f.name }
func (f fakeFilter) OnPack(b []byte) ([]byte, error)   { return b, nil }
func (f fakeFilter) OnUnpack(b []byte) ([]byte, error) { return b, nil }
