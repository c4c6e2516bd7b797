package pb

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/teleport-go/teleport/codec"
)

// FuzzLibraryCodec feeds any bytes to teleport's protobuf codec decoding
// into BenchmarkMessage, which takes the generated UnmarshalVT: it must
// return an error or a message, never panic; what it accepts must encode
// and read back the same; and where the reflection-driven decoder accepts
// the input too, both must read the same message. The two disagree at the
// edges, which the committed seeds keep: a known field with the wrong wire
// type is an error to the generated code and an unknown field to
// reflection (bfa0c4a0fb10986b); a field number past 2^29-1 is an unknown
// field to the generated code and an error to reflection
// (db2ae0a23d85c454).
func FuzzLibraryCodec(f *testing.F) {
	req, _ := AppendMarshal(nil, NewRequest())
	small, _ := NewRequestSize(64)
	smallB, _ := AppendMarshal(nil, small)
	f.Add(req)
	f.Add(smallB)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}) // a length past the end
	f.Add(req[:len(req)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow BenchmarkMessage
		errFast := codec.ProtoCodec{}.Unmarshal(data, &fast)
		errSlow := proto.UnmarshalOptions{}.Unmarshal(data, &slow)
		if errFast != nil {
			return
		}
		if errSlow == nil && !proto.Equal(&fast, &slow) {
			t.Fatal("the two decoders read different messages")
		}
		again, err := codec.ProtoCodec{}.MarshalAppend(nil, &fast)
		if err != nil {
			t.Fatal(err)
		}
		var round BenchmarkMessage
		if err := Unmarshal(again, &round); err != nil || !proto.Equal(&round, &fast) {
			t.Fatalf("re-encoded message does not read back: %v", err)
		}
	})
}
