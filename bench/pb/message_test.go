package pb

import (
	"testing"

	//lint:ignore SA1019 the library's protobuf codec is specified on this API.
	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/proto"

	"github.com/teleport-go/teleport/codec"
)

func TestRequestSize(t *testing.T) {
	if n := len(Sentence); n != 54 {
		t.Fatalf("len(Sentence) = %d, want 54", n)
	}
	req := NewRequest()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != RequestSize {
		t.Fatalf("marshalled request is %d bytes, want %d", len(b), RequestSize)
	}
	// The library's protobuf codec uses the v1 API; the generated type must
	// work with it and give the same bytes.
	b1, err := protov1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if string(b1) != string(b) {
		t.Fatal("github.com/golang/protobuf/proto.Marshal gives different bytes")
	}
}

func TestRequestFields(t *testing.T) {
	req := NewRequest()
	if req.GetField1() != Sentence || req.GetField129() != Sentence {
		t.Errorf("string fields not set: field1=%q field129=%q", req.GetField1(), req.GetField129())
	}
	if req.GetField2() != IntValue || req.GetField22() != IntValue || req.GetField131() != IntValue {
		t.Errorf("int fields not set: %d %d %d", req.GetField2(), req.GetField22(), req.GetField131())
	}
	if !req.GetField80() || !req.GetField30() {
		t.Error("bool fields not set")
	}
	if len(req.Field5) != 0 {
		t.Error("field5 is set; the workload leaves it empty")
	}
}

func TestSetReplyRoundTrip(t *testing.T) {
	req := NewRequest()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got BenchmarkMessage
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if IsOK(&got) {
		t.Fatal("a request counts as an OK reply")
	}
	SetReply(&got)
	if b, err = proto.Marshal(&got); err != nil {
		t.Fatal(err)
	}
	var reply BenchmarkMessage
	if err := proto.Unmarshal(b, &reply); err != nil {
		t.Fatal(err)
	}
	if !IsOK(&reply) || reply.GetField2() != ReplyField2 || reply.GetField9() != Sentence {
		t.Fatalf("bad reply: field1=%q field2=%d field9=%q", reply.GetField1(), reply.GetField2(), reply.GetField9())
	}
	// Unmarshalling into the reply must not write through the shared
	// pointers that SetReply installed.
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	got.Field1 = nil
	if replyField1 != ReplyField1 || replyField2 != ReplyField2 {
		t.Fatal("shared reply values were modified")
	}
}

// The vtproto code writes what the reflection-driven code writes, and each
// reads the other's output.
func TestGeneratedMatchesReflection(t *testing.T) {
	for _, size := range []int{0, MinSize, 64, 1 << 10, 1 << 20} {
		req, err := NewRequestSize(size)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := AppendMarshal([]byte("prefix"), req)
		if err != nil {
			t.Fatal(err)
		}
		if string(fast[len("prefix"):]) != string(slow) || string(fast[:len("prefix")]) != "prefix" {
			t.Fatalf("size %d: AppendMarshal differs from proto.Marshal", size)
		}
		var got BenchmarkMessage
		if err := Unmarshal(slow, &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, req) {
			t.Fatalf("size %d: UnmarshalVT of proto.Marshal's bytes differs from the request", size)
		}
	}
}

// Unmarshal resets the message first: UnmarshalVT alone merges.
func TestUnmarshalResets(t *testing.T) {
	small, _ := NewRequestSize(64)
	b, err := AppendMarshal(nil, small)
	if err != nil {
		t.Fatal(err)
	}
	m := NewRequest()
	if err := Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	if m.Field4 != nil || m.GetField1() != sizedField1 {
		t.Fatalf("fields of the earlier content survived: field4=%q field1=%q", m.GetField4(), m.GetField1())
	}
}

// A decoded message does not alias its input, which the frame pools reuse.
func TestUnmarshalDoesNotAlias(t *testing.T) {
	b, err := AppendMarshal(nil, NewRequest())
	if err != nil {
		t.Fatal(err)
	}
	var m BenchmarkMessage
	if err := Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if m.GetField1() != Sentence || m.GetField129() != Sentence {
		t.Fatalf("decoded strings changed with the input: %q %q", m.GetField1(), m.GetField129())
	}
}

func TestNewRequestSize(t *testing.T) {
	sizes := []int{16384 + 12, 16384 + 13, 16384 + 14, 16384 + 15, 256 << 10, 1 << 20}
	for size := MinSize; size <= 300; size++ { // every size around the one- to two-byte length boundary
		sizes = append(sizes, size)
	}
	for _, size := range sizes {
		m, err := NewRequestSize(size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got := proto.Size(m); got != size {
			t.Fatalf("NewRequestSize(%d) is %d bytes", size, got)
		}
		SetReply(m)
		if got := proto.Size(m); got != size {
			t.Fatalf("the reply to a %d-byte request is %d bytes", size, got)
		}
	}
	if _, err := NewRequestSize(MinSize - 1); err == nil {
		t.Fatal("no error below MinSize")
	}
	if m, err := NewRequestSize(0); err != nil || proto.Size(m) != RequestSize {
		t.Fatalf("NewRequestSize(0) = %d bytes, %v; want the standard request", proto.Size(m), err)
	}
}

func BenchmarkMarshal(b *testing.B) {
	req := NewRequest()
	b.Run("vtproto", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := AppendMarshal(buf[:0], req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflection", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := (proto.MarshalOptions{}).MarshalAppend(buf[:0], req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	data, _ := AppendMarshal(nil, NewRequest())
	var m BenchmarkMessage
	b.Run("vtproto", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := proto.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// teleport's protobuf codec takes BenchmarkMessage's generated code: it
// writes the same bytes, and what it decodes does not alias its input.
func TestLibraryCodecFastPath(t *testing.T) {
	var c codec.ProtoCodec
	req := NewRequest()
	want, _ := AppendMarshal(nil, req)
	got, err := c.MarshalAppend([]byte("hdr"), req)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hdr"+string(want) {
		t.Fatal("codec.ProtoCodec.MarshalAppend differs from the generated code")
	}
	m := NewRequest()
	m.Field5 = []uint64{1, 2} // stale content the codec must reset
	if err := c.Unmarshal(got[3:], m); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = '#'
	}
	if !proto.Equal(m, req) {
		t.Fatal("decoded message differs, or changed with its input")
	}
}
