package tp_test

import (
	"fmt"
	"net"
	"time"

	tp "github.com/teleport-go/teleport"
)

// A client spreads its pulls over two servers of one service, in turn.
func ExampleBalancer() {
	var addrs []string
	for range 2 {
		srv := tp.NewPeer(nil)
		srv.PullRouter.Reg(new(Math))
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go srv.Serve(lis)
		defer srv.Close()
		addrs = append(addrs, lis.Addr().String())
	}

	b := tp.NewBalancer(nil, tp.StaticAddrs(addrs...), &tp.BalancerConfig{
		Service:    "math",
		Policy:     tp.RoundRobin,
		Idempotent: []string{"/math/"}, // they change nothing: safe to run twice
	})
	defer b.Close()
	for ready(b) < 2 { // calls would wait for one, but here both should take them
		time.Sleep(time.Millisecond)
	}
	by := map[string]int{}
	for i := range 4 {
		var sum int
		cmd := b.Pull("/math/add", []int{i, 10}, &sum)
		if cmd.Rerror() != nil {
			panic(cmd.Rerror())
		}
		by[cmd.Session().RemoteAddr().String()]++
		fmt.Println(sum)
	}
	fmt.Println("instances:", len(by), "calls each:", by[addrs[0]], by[addrs[1]])
	// Output:
	// 10
	// 11
	// 12
	// 13
	// instances: 2 calls each: 2 2
}

// ready counts the instances b has a session to.
func ready(b *tp.Balancer) int {
	n := 0
	for _, in := range b.Stats().Instances {
		if in.Ready {
			n++
		}
	}
	return n
}
