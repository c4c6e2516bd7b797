package runner

import (
	"errors"
	"net"
	"net/rpc"
	"sync"

	"github.com/teleport-go/teleport/bench/pb"
)

// NetRPC is the standard library baseline: net/rpc with a codec that frames
// with a length prefix and marshals bodies with protobuf, Pool
// *rpc.Client connections shared round-robin.
type NetRPC struct{}

// Name implements Runner.
func (NetRPC) Name() string { return "netrpc" }

// NetRPCReply is the reply type of the net/rpc Hello.Say method. net/rpc
// hands the method a fresh reply value; holding a pointer lets Say return
// its decoded argument, as the other servers do, instead of copying a
// generated message, which must not be copied by value.
type NetRPCReply struct {
	// Msg is the message to send back.
	Msg *pb.BenchmarkMessage
}

type netrpcHello struct{}

// Say is the method net/rpc calls as "Hello.Say".
func (netrpcHello) Say(args *pb.BenchmarkMessage, reply *NetRPCReply) error {
	pb.SetReply(args)
	reply.Msg = args
	return nil
}

// StartServer implements Runner.
func (NetRPC) StartServer(addr string) (string, func() error, error) {
	srv := rpc.NewServer()
	if err := srv.RegisterName("Hello", netrpcHello{}); err != nil {
		return "", nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards conns and closed
		conns  = make(map[net.Conn]struct{})
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				// ServeCodec returns once the connection fails and closes it.
				srv.ServeCodec(netrpcServerCodec{newProtoCodec(c)})
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	stop := func() error {
		mu.Lock()
		closed = true
		err := lis.Close()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		return err
	}
	return lis.Addr().String(), stop, nil
}

// NewClient implements Runner.
func (NetRPC) NewClient(cfg ClientConfig) (Client, error) {
	cl := &netrpcClient{clients: make([]*rpc.Client, cfg.pool())}
	for i := range cl.clients {
		c, err := net.Dial("tcp", cfg.Addr)
		if err != nil {
			cl.Close()
			return nil, err
		}
		cl.clients[i] = rpc.NewClientWithCodec(netrpcClientCodec{newProtoCodec(c)})
	}
	return cl, nil
}

type netrpcClient struct {
	clients []*rpc.Client
}

// Call implements Client.
func (cl *netrpcClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	return cl.clients[i%len(cl.clients)].Call("Hello.Say", req, reply)
}

// Close implements Client.
func (cl *netrpcClient) Close() error {
	for _, c := range cl.clients {
		if c != nil {
			c.Close()
		}
	}
	return nil
}
