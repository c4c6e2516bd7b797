package pb

import (
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
