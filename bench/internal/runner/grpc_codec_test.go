package runner

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/teleport-go/teleport/bench/pb"
)

func TestGRPCVTCodec(t *testing.T) {
	var c grpcVTCodec
	for _, size := range []int{0, 64, 1 << 20} { // 1 MiB is over gRPC's pooling threshold
		req, err := pb.NewRequestSize(size)
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.Marshal(req)
		if got := data.Materialize(); string(got) != string(want) {
			t.Fatalf("size %d: codec bytes differ from proto.Marshal", size)
		}
		reply := pb.NewRequest() // stale content the codec must reset
		if err := c.Unmarshal(data, reply); err != nil {
			t.Fatal(err)
		}
		data.Free()
		if !proto.Equal(reply, req) {
			t.Fatalf("size %d: round trip differs", size)
		}
	}
	if _, err := c.Marshal(wrapperspb.String("x")); err == nil {
		t.Error("Marshal of a message without vtproto code: no error")
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer{0x0a, 0}}, wrapperspb.String("x")); err == nil {
		t.Error("Unmarshal into a message without vtproto code: no error")
	}
}
