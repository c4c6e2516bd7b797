package pb

import (
	"testing"

	//lint:ignore SA1019 the library's protobuf codec is specified on this API.
	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/proto"
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
