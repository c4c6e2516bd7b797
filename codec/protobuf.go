package codec

import (
	"fmt"

	//lint:ignore SA1019 SPEC §2 mandates github.com/golang/protobuf; it forwards to the current API.
	"github.com/golang/protobuf/proto"
	protov2 "google.golang.org/protobuf/proto"
)

// Protobuf codec identity.
const (
	IdProtobuf   byte   = 'p'
	NameProtobuf string = "protobuf"
)

// ProtoCodec encodes bodies that are protocol buffer messages.
type ProtoCodec struct{}

// Id returns IdProtobuf.
func (ProtoCodec) Id() byte { return IdProtobuf }

// Name returns NameProtobuf.
func (ProtoCodec) Name() string { return NameProtobuf }

// Marshal returns the wire encoding of v, which must be a proto.Message.
func (ProtoCodec) Marshal(v interface{}) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: protobuf: cannot marshal %T: not a proto.Message", v)
	}
	return proto.Marshal(m)
}

// MarshalAppend appends the wire encoding of v, a proto.Message, to dst.
func (ProtoCodec) MarshalAppend(dst []byte, v interface{}) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: protobuf: cannot marshal %T: not a proto.Message", v)
	}
	return protov2.MarshalOptions{}.MarshalAppend(dst, proto.MessageV2(m))
}

// Unmarshal decodes data into v, which must be a proto.Message. The decoded
// message copies what it keeps of data.
func (ProtoCodec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: protobuf: cannot unmarshal into %T: not a proto.Message", v)
	}
	return proto.Unmarshal(data, m)
}
