package runner

import (
	"errors"
	"fmt"
	"net"

	tp "github.com/teleport-go/teleport"

	"github.com/teleport-go/teleport/bench/pb"
)

// Teleport is this framework through its public API: a Peer serving a pull
// controller, and a client Peer whose Pool sessions are shared round-robin,
// both with protobuf as their default body codec and logging at its default
// level.
type Teleport struct{}

// Name implements Runner.
func (Teleport) Name() string { return "teleport" }

// Hello is the benchmark's controller: Hello.Say is the route /hello/say.
type Hello struct {
	tp.PullCtx
}

// Say answers the benchmark message.
func (h *Hello) Say(m *pb.BenchmarkMessage) (*pb.BenchmarkMessage, *tp.Rerror) {
	pb.SetReply(m)
	return m, nil
}

// StartServer implements Runner.
func (Teleport) StartServer(addr string) (string, func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	peer := tp.NewPeer(&tp.PeerConfig{DefaultBodyCodec: "protobuf"})
	peer.PullRouter.Reg(new(Hello))
	served := make(chan error, 1)
	go func() { served <- peer.Serve(lis) }()
	stop := func() error {
		err := peer.Close()
		return errors.Join(err, <-served)
	}
	return lis.Addr().String(), stop, nil
}

// NewClient implements Runner.
func (Teleport) NewClient(cfg ClientConfig) (Client, error) {
	peer := tp.NewPeer(&tp.PeerConfig{DefaultBodyCodec: "protobuf"})
	c := &teleportClient{peer: peer}
	for range cfg.pool() {
		sess, rerr := peer.Dial(cfg.Addr)
		if rerr != nil {
			peer.Close()
			return nil, fmt.Errorf("teleport dial %s: %w", cfg.Addr, rerr)
		}
		c.sessions = append(c.sessions, sess)
	}
	return c, nil
}

type teleportClient struct {
	peer     *tp.Peer
	sessions []tp.Session
}

func (c *teleportClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	return c.sessions[i%len(c.sessions)].Pull("/hello/say", req, reply).Rerror().ToError()
}

func (c *teleportClient) Close() error { return c.peer.Close() }
