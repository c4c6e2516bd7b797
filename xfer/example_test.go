package xfer_test

import (
	"fmt"

	"github.com/teleport-go/teleport/xfer"
)

// XorFilter obfuscates a payload by XOR-ing every byte with a key. It
// stands for any custom transfer filter (encryption, checksums...) both
// ends of a connection have registered.
type XorFilter struct{ Key byte }

// Id returns the wire id of the filter: one byte, unique in the registry.
func (XorFilter) Id() byte { return 'x' }

// Name returns the unique name of the filter.
func (XorFilter) Name() string { return "xor" }

// OnPack obfuscates into a new slice: the caller may still use its input.
func (f XorFilter) OnPack(b []byte) ([]byte, error) {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ f.Key
	}
	return out, nil
}

// OnUnpack reverses OnPack. It never grows its input, so it cannot exceed
// the size limit.
func (f XorFilter) OnUnpack(b []byte) ([]byte, error) { return f.OnPack(b) }

// Filters are registered once, at init: Reg panics on a duplicate id or name.
func init() {
	xfer.Reg(XorFilter{Key: 0x5A})
}

func Example() {
	// A packet's pipe lists its filters outer-most first, as on the wire:
	// gzip outside, XOR inside. OnPack XORs, then gzips.
	pipe := xfer.NewXferPipe()
	if err := pipe.Append(xfer.IdGzip, 'x'); err != nil {
		panic(err)
	}
	fmt.Printf("ids %q, names %q\n", pipe.Ids(), pipe.Names())

	payload := []byte("secret payload, secret payload, secret payload")
	packed, err := pipe.OnPack(payload)
	if err != nil {
		panic(err)
	}
	unpacked, err := pipe.OnUnpack(packed) // outer-most first: gunzip, then XOR
	if err != nil {
		panic(err)
	}
	fmt.Println(string(unpacked))

	if err := pipe.Append('?'); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ids "gx", names ["gzip" "xor"]
	// secret payload, secret payload, secret payload
	// xfer: unknown filter: id 63 ('?')
}
