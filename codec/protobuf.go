package codec

import (
	"fmt"
	"slices"

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
//
// A message with generated fast marshalling is encoded and decoded through
// it, found by an interface assertion on every call (no reflection, no
// registration):
//
//   - vtprotobuf (protoc-gen-go-vtproto, features size, marshal and
//     unmarshal): SizeVT, MarshalToSizedBufferVT and UnmarshalVT;
//   - gogo-style (protoc-gen-gogofaster and its kin, or any generator that
//     writes the same methods): Size, MarshalToSizedBuffer and Unmarshal.
//
// Any other proto.Message goes through google.golang.org/protobuf. The
// methods must keep the generators' contracts: Size is the exact length the
// marshaller writes, the marshaller fills the tail of its buffer, and the
// unmarshaller copies what it keeps (UnmarshalVTUnsafe, which aliases its
// input, is never called). Either way the message is reset before it is
// decoded into, as proto.Unmarshal does.
type ProtoCodec struct{}

// The method sets of the fast paths. The size and marshal halves are
// looked for together: a sized marshaller is useless without its size.
type (
	vtMarshaler interface {
		SizeVT() int
		MarshalToSizedBufferVT(dst []byte) (int, error)
	}
	vtUnmarshaler interface {
		UnmarshalVT(data []byte) error
	}
	gogoMarshaler interface {
		Size() int
		MarshalToSizedBuffer(dst []byte) (int, error)
	}
	gogoUnmarshaler interface {
		Unmarshal(data []byte) error
	}
)

// Id returns IdProtobuf.
func (ProtoCodec) Id() byte { return IdProtobuf }

// Name returns NameProtobuf.
func (ProtoCodec) Name() string { return NameProtobuf }

// Marshal returns the wire encoding of v, which must be a proto.Message.
func (c ProtoCodec) Marshal(v interface{}) ([]byte, error) {
	if _, ok := v.(proto.Message); !ok {
		return nil, fmt.Errorf("codec: protobuf: cannot marshal %T: not a proto.Message", v)
	}
	switch m := v.(type) {
	case vtMarshaler:
		return appendSized(nil, m.SizeVT(), m.MarshalToSizedBufferVT)
	case gogoMarshaler:
		return appendSized(nil, m.Size(), m.MarshalToSizedBuffer)
	}
	return proto.Marshal(v.(proto.Message))
}

// MarshalAppend appends the wire encoding of v, a proto.Message, to dst.
// With a fast path, dst grows once by the message's size and the generated
// code writes straight into it.
func (ProtoCodec) MarshalAppend(dst []byte, v interface{}) ([]byte, error) {
	if _, ok := v.(proto.Message); !ok {
		return nil, fmt.Errorf("codec: protobuf: cannot marshal %T: not a proto.Message", v)
	}
	switch m := v.(type) {
	case vtMarshaler:
		return appendSized(dst, m.SizeVT(), m.MarshalToSizedBufferVT)
	case gogoMarshaler:
		return appendSized(dst, m.Size(), m.MarshalToSizedBuffer)
	}
	return protov2.MarshalOptions{}.MarshalAppend(dst, proto.MessageV2(v.(proto.Message)))
}

// appendSized appends size bytes written by marshal, a generated
// MarshalToSizedBuffer, to dst. Such a marshaller writes backwards from
// the end of the buffer it is given and returns how much it wrote; the
// result is moved down should that be less than size.
func appendSized(dst []byte, size int, marshal func([]byte) (int, error)) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("codec: protobuf: negative message size %d", size)
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	n, err := marshal(dst[start:])
	if err != nil {
		return nil, fmt.Errorf("codec: protobuf: %w", err)
	}
	if n < 0 || n > size {
		return nil, fmt.Errorf("codec: protobuf: marshalled %d bytes, size said %d", n, size)
	}
	if n < size {
		copy(dst[start:], dst[start+size-n:])
	}
	return dst[:start+n], nil
}

// Unmarshal decodes data into v, which must be a proto.Message, after
// resetting it. The decoded message copies what it keeps of data.
func (ProtoCodec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: protobuf: cannot unmarshal into %T: not a proto.Message", v)
	}
	switch u := v.(type) {
	case vtUnmarshaler:
		m.Reset()
		return u.UnmarshalVT(data)
	case gogoUnmarshaler:
		m.Reset()
		return u.Unmarshal(data)
	}
	return proto.Unmarshal(data, m)
}
