package pb

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Sentence is the value of every string field of a request: the 54-byte
// UTF-8 sentence (18 CJK characters) of the common Go RPC benchmark.
const Sentence = "许多往事在眼前一幕一幕，变的那麼模糊"

// RequestSize is the marshalled size, in bytes, of NewRequest's message; the
// published benchmark numbers are for this size, so a test pins it.
const RequestSize = 581

// IntValue is the value of every integer field of a request.
const IntValue = 100000

// ReplyField1 and ReplyField2 are what a server writes into field1 and
// field2 before it returns the request; a client counts a call as OK only
// when field1 came back as ReplyField1.
const (
	ReplyField1       = "OK"
	ReplyField2 int32 = 100
)

// NewRequest returns the benchmark request: every singular string field set
// to Sentence, every integer field to IntValue and every bool to true; the
// repeated field5 stays empty, as in the original workload.
//
// Fields are set through protoreflect rather than one by one so that the
// rule "every field" cannot drift from the .proto file.
func NewRequest() *BenchmarkMessage {
	m := &BenchmarkMessage{}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsList() || fd.IsMap() {
			continue
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			r.Set(fd, protoreflect.ValueOfString(Sentence))
		case protoreflect.Int32Kind:
			r.Set(fd, protoreflect.ValueOfInt32(IntValue))
		case protoreflect.Int64Kind:
			r.Set(fd, protoreflect.ValueOfInt64(IntValue))
		case protoreflect.BoolKind:
			r.Set(fd, protoreflect.ValueOfBool(true))
		}
	}
	return m
}

// replyField1 and replyField2 are shared by every reply so that answering a
// call does not allocate two pointers. Nothing writes through these
// pointers: unmarshalling into a message resets it first, dropping them.
var (
	replyField1 = ReplyField1
	replyField2 = ReplyField2
)

// SetReply turns a decoded request into the reply every benchmark server
// sends: field1 = "OK", field2 = 100, everything else unchanged.
func SetReply(m *BenchmarkMessage) {
	m.Field1 = &replyField1
	m.Field2 = &replyField2
}

// IsOK reports whether m is a correct reply.
func IsOK(m *BenchmarkMessage) bool {
	return m != nil && m.Field1 != nil && *m.Field1 == ReplyField1
}

// VTMessage is a message with protoc-gen-go-vtproto's generated
// marshalling, as BenchmarkMessage has. The runners that marshal by hand
// (the raw-TCP ceilings, net/rpc's codec, gRPC's codec) go through it, so
// every runner runs the same generated code; teleport's protobuf codec
// finds the same methods by itself.
type VTMessage interface {
	proto.Message
	Reset()
	SizeVT() int
	MarshalToSizedBufferVT(dst []byte) (int, error)
	UnmarshalVT(data []byte) error
}

var _ VTMessage = (*BenchmarkMessage)(nil)

// AppendMarshal appends the encoding of m to dst with the generated code,
// growing dst once by m's size.
func AppendMarshal(dst []byte, m VTMessage) ([]byte, error) {
	size := m.SizeVT()
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	n, err := m.MarshalToSizedBufferVT(dst[start:])
	if err != nil {
		return nil, err
	}
	if n != size {
		return nil, fmt.Errorf("pb: marshalled %d bytes, SizeVT said %d", n, size)
	}
	return dst, nil
}

// Unmarshal resets m and decodes data into it with the generated code,
// which copies what it keeps: data may be reused afterwards.
func Unmarshal(data []byte, m VTMessage) error {
	m.Reset()
	return m.UnmarshalVT(data)
}

// Sized requests carry field1 = "go", field2 = 100 and field3 = IntValue
// (1000 where that makes the size come out) and pad field9 to the size asked for; field1 and field2 take as many
// bytes as the server's "OK" and 100, so the reply is as large as the
// request.
const (
	sizedField1 = "go"
	// MinSize is the smallest request NewRequestSize can make.
	MinSize = 12
)

// padding is the ASCII the padding of sized requests is cut from.
const padding = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewRequestSize returns a request whose encoding is exactly size bytes,
// for the message-size curves; size 0 is NewRequest. It is an error below
// MinSize.
func NewRequestSize(size int) (*BenchmarkMessage, error) {
	if size == 0 {
		return NewRequest(), nil
	}
	if size < MinSize {
		return nil, fmt.Errorf("pb: request of %d bytes asked for; the smallest is %d", size, MinSize)
	}
	f1, f2 := sizedField1, ReplyField2
	// Field 9 costs a one-byte tag, its length varint and the padding. A
	// length varint one byte longer can overshoot by one byte; field3's
	// value then takes a byte less.
	for _, f3 := range []int32{IntValue, 1000} {
		m := &BenchmarkMessage{Field1: &f1, Field2: &f2, Field3: &f3}
		base := m.SizeVT()
		for lenBytes := 1; lenBytes <= 5; lenBytes++ {
			n := size - base - 1 - lenBytes
			if n < 0 {
				break
			}
			pad := make([]byte, n)
			for i := range pad {
				pad[i] = padding[i%len(padding)]
			}
			s := string(pad)
			m.Field9 = &s
			if m.SizeVT() == size {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("pb: no padding makes a request of %d bytes", size)
}
