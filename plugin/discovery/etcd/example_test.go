package etcd_test

import (
	"fmt"
	"net"
	"os"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/discovery/etcd"
	"github.com/teleport-go/teleport/plugin/discovery/etcd/embedded"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Greeter is the example's service.
type Greeter struct{ tp.PullCtx }

// Hello greets.
func (g *Greeter) Hello(name *string) (string, *tp.Rerror) { return "hello " + *name, nil }

// A server registers in etcd; a client finds it through a balancer.
func Example() {
	dir, _ := os.MkdirTemp("", "etcd-example-")
	defer os.RemoveAll(dir)
	etcdSrv, err := embedded.Start(dir) // production: an etcd cluster of its own
	if err != nil {
		panic(err)
	}
	defer etcdSrv.Close()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdSrv.Endpoint()}, Logger: zap.NewNop()})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The server: listed under /teleport/greeter/<address> while it runs.
	srv := tp.NewPeer(nil, etcd.NewRegistry(client, etcd.Config{Service: "greeter", TTL: 5 * time.Second, Version: "1.0.0"}))
	srv.PullRouter.Reg(new(Greeter))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(lis)
	defer srv.Close() // deregisters first, then tells clients to leave

	// The client: follows the instances of "greeter".
	b := tp.NewBalancer(nil, etcd.NewResolver(client, ""), &tp.BalancerConfig{Service: "greeter"})
	defer b.Close()
	var reply string
	if rerr := b.Pull("/greeter/hello", "etcd", &reply).Rerror(); rerr != nil { // waits for the first instance
		panic(rerr)
	}
	in := b.Stats().Instances[0]
	fmt.Println(reply, in.Version, in.Routes)
	// Output: hello etcd 1.0.0 [/greeter/hello]
}
