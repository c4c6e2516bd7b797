package runner

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/teleport-go/teleport/bench/pb"
)

// GRPC is the gRPC baseline: unary calls of benchmark.Hello/Say, Pool
// *grpc.ClientConn connections shared round-robin, default options but
// for the codec: grpcVTCodec, gRPC's protobuf codec running the generated
// vtproto code, on both ends.
type GRPC struct{}

// Name implements Runner.
func (GRPC) Name() string { return "grpc" }

// grpcSayMethod is the full method name of the service in benchmark.proto.
const grpcSayMethod = "/benchmark.Hello/Say"

// grpcHelloServer is the service interface that protoc-gen-go-grpc would
// generate; the descriptor below is written by hand to spare the module a
// second code generator.
type grpcHelloServer interface {
	Say(context.Context, *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error)
}

var grpcHelloDesc = grpc.ServiceDesc{
	ServiceName: "benchmark.Hello",
	HandlerType: (*grpcHelloServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Say",
		Handler:    grpcSayHandler,
	}},
	Metadata: "benchmark.proto",
}

func grpcSayHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(pb.BenchmarkMessage)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(grpcHelloServer).Say(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: grpcSayMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return srv.(grpcHelloServer).Say(ctx, req.(*pb.BenchmarkMessage))
	})
}

type grpcHello struct{}

// Say implements grpcHelloServer.
func (grpcHello) Say(_ context.Context, m *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
	pb.SetReply(m)
	return m, nil
}

// StartServer implements Runner.
func (GRPC) StartServer(addr string) (string, func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(grpcVTCodec{}))
	srv.RegisterService(&grpcHelloDesc, grpcHello{})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	stop := func() error {
		srv.Stop()
		err := <-serveErr
		if errors.Is(err, grpc.ErrServerStopped) {
			err = nil
		}
		return err
	}
	return lis.Addr().String(), stop, nil
}

// NewClient implements Runner.
func (GRPC) NewClient(cfg ClientConfig) (Client, error) {
	cl := &grpcClient{conns: make([]*grpc.ClientConn, cfg.pool())}
	for i := range cl.conns {
		// passthrough skips name resolution: the address is a literal.
		cc, err := grpc.NewClient("passthrough:///"+cfg.Addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpcVTCodec{})))
		if err != nil {
			cl.Close()
			return nil, err
		}
		// NewClient is lazy; connect now so the first timed call does not
		// pay for the handshake.
		cc.Connect()
		cl.conns[i] = cc
	}
	return cl, nil
}

type grpcClient struct {
	conns []*grpc.ClientConn
}

// Call implements Client.
func (cl *grpcClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	return cl.conns[i%len(cl.conns)].Invoke(context.Background(), grpcSayMethod, req, reply)
}

// Close implements Client.
func (cl *grpcClient) Close() error {
	var first error
	for _, cc := range cl.conns {
		if cc == nil {
			continue
		}
		if err := cc.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
