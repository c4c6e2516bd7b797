package codec_test

import (
	"encoding/hex"
	"fmt"

	"github.com/teleport-go/teleport/codec"
)

// HexCodec sends string bodies as hexadecimal text. It stands for any
// custom body encoding both ends of a connection have registered.
type HexCodec struct{}

// Id returns the wire id of the codec: one byte, unique in the registry.
func (HexCodec) Id() byte { return 'x' }

// Name returns the name used to choose the codec in a PeerConfig.
func (HexCodec) Name() string { return "hex" }

// Marshal encodes a string or *string.
func (HexCodec) Marshal(v interface{}) ([]byte, error) {
	switch s := v.(type) {
	case string:
		return hex.AppendEncode(nil, []byte(s)), nil
	case *string:
		return hex.AppendEncode(nil, []byte(*s)), nil
	}
	return nil, fmt.Errorf("hex: cannot marshal %T", v)
}

// Unmarshal decodes into a *string. The result does not alias data, which
// the caller reuses for the next packet.
func (HexCodec) Unmarshal(data []byte, v interface{}) error {
	s, ok := v.(*string)
	if !ok {
		return fmt.Errorf("hex: cannot unmarshal into %T", v)
	}
	b, err := hex.AppendDecode(nil, data)
	if err != nil {
		return err
	}
	*s = string(b)
	return nil
}

// Codecs are registered once, at init: Reg panics on a duplicate id or name.
func init() {
	codec.Reg(HexCodec{})
}

func Example() {
	c, err := codec.Get('x') // the id is what travels in each packet
	if err != nil {
		panic(err)
	}
	data, _ := c.Marshal("hi!")
	fmt.Printf("%s on the wire: %s\n", c.Name(), data)

	var s string
	if err := c.Unmarshal(data, &s); err != nil {
		panic(err)
	}
	fmt.Println("decoded:", s)

	byName, _ := codec.GetByName("hex")
	fmt.Printf("by name: id %q\n", byName.Id())
	// Output:
	// hex on the wire: 686921
	// decoded: hi!
	// by name: id 'x'
}
