package metrics_test

import (
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/metrics"
)

// Math is a pull controller.
type Math struct{ tp.PullCtx }

// Add answers the sum of its arguments.
func (m *Math) Add(nums *[]int) (int, *tp.Rerror) {
	sum := 0
	for _, n := range *nums {
		sum += n
	}
	return sum, nil
}

func Example() {
	// One Plugin per peer, added before the routes are registered so
	// that it learns their names.
	srvMetrics := metrics.New("myapp")
	reg := prometheus.NewRegistry()
	reg.MustRegister(srvMetrics)
	srv := tp.NewPeer(nil, srvMetrics)
	srv.PullRouter.Reg(new(Math))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := tp.NewPeer(nil)
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		panic(rerr)
	}
	var sum int
	sess.Pull("/math/add", []int{1, 2, 3}, &sum)
	sess.Pull("/math/sub", []int{1, 2, 3}, &sum) // no such route: 404

	cli.Close()
	srv.Close() // waits for the replies, hence their hooks
	<-served

	// Usually: http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})).
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "myapp_server_pulls_total", "myapp_sessions_opened_total", "myapp_sessions_open":
			for _, m := range mf.GetMetric() {
				fmt.Print(mf.GetName())
				for _, l := range m.GetLabel() {
					fmt.Printf(" %s=%s", l.GetName(), l.GetValue())
				}
				fmt.Println(":", m.GetCounter().GetValue()+m.GetGauge().GetValue())
			}
		}
	}
	// Output:
	// myapp_server_pulls_total code=0 route=/math/add: 1
	// myapp_server_pulls_total code=404 route=<unmatched>: 1
	// myapp_sessions_open: 0
	// myapp_sessions_opened_total side=accept: 1
	// myapp_sessions_opened_total side=dial: 0
}
