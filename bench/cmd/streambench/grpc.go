package main

import (
	"context"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
)

// rawCodec carries *[]byte messages as they are, so that gRPC does no
// codec work either; a received message is copied out of gRPC's buffers,
// as teleport copies it out of its read buffer.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "raw" }

// grpcSinkDesc is a service with one bidirectional stream, written by hand
// as protoc-gen-go-grpc would generate it.
var grpcSinkDesc = grpc.ServiceDesc{
	ServiceName: "bench.Sink",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Drain",
		ClientStreams: true,
		ServerStreams: true,
	}},
}

func openGRPC(recv func([]byte)) (func([]byte) error, func() error, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	done := make(chan error, 1)
	desc := grpcSinkDesc
	desc.Streams = []grpc.StreamDesc{desc.Streams[0]}
	desc.Streams[0].Handler = func(_ any, stream grpc.ServerStream) error {
		for {
			var b []byte
			if err := stream.RecvMsg(&b); err == io.EOF {
				done <- nil
				return nil
			} else if err != nil {
				done <- err
				return err
			}
			recv(b)
		}
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}))
	srv.RegisterService(&desc, struct{}{})
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		srv.Stop()
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := conn.NewStream(ctx, &desc.Streams[0], "/bench.Sink/Drain")
	if err != nil {
		cancel()
		conn.Close()
		srv.Stop()
		return nil, nil, nil, err
	}
	send := func(b []byte) error { return cs.SendMsg(&b) }
	closeSend := func() error {
		if err := cs.CloseSend(); err != nil {
			return err
		}
		return <-done
	}
	stop := func() {
		cancel()
		conn.Close()
		srv.Stop()
	}
	return send, closeSend, stop, nil
}
