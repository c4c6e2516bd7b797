package runner

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/teleport-go/teleport/bench/pb"
)

// grpcVTCodec is gRPC's own protobuf codec (encoding/proto) with the
// generated vtproto code in place of the reflection-driven marshalling, so
// that gRPC runs the same codec work as every other runner. It keeps the
// stock codec's buffer handling: messages under gRPC's pooling threshold in
// a fresh slice, larger ones in a buffer of gRPC's pool; the received
// slices are materialised into one pooled buffer and decoded from it.
type grpcVTCodec struct{}

// Marshal implements encoding.CodecV2.
func (grpcVTCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(pb.VTMessage)
	if !ok {
		return nil, fmt.Errorf("runner: grpc codec: %T has no generated vtproto code", v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf, err := pb.AppendMarshal(make([]byte, 0, size), m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	b, err := pb.AppendMarshal((*buf)[:0], m)
	if err != nil {
		pool.Put(buf)
		return nil, err
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal implements encoding.CodecV2.
func (grpcVTCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(pb.VTMessage)
	if !ok {
		return fmt.Errorf("runner: grpc codec: %T has no generated vtproto code", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return pb.Unmarshal(buf.ReadOnlyData(), m)
}

// Name implements encoding.CodecV2: the content subtype stays "proto".
func (grpcVTCodec) Name() string { return "proto" }

var _ encoding.CodecV2 = grpcVTCodec{}
