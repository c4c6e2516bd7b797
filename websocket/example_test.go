package websocket_test

import (
	"fmt"
	"net"
	"net/http"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/websocket"
)

type Math struct{ tp.PullCtx }

func (m *Math) Add(a *[2]int) (int, *tp.Rerror) { return a[0] + a[1], nil }

// A peer serves WebSocket on /tp of an HTTP server, next to a route of the
// program's own and to a TCP listener; a Go peer dials each.
func Example() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle("/tp", websocket.NewHandler(srv, nil)) // nil: same-origin browsers only
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "home") })
	httpLis, _ := net.Listen("tcp", "127.0.0.1:0")
	hs := &http.Server{Handler: mux}
	go hs.Serve(httpLis)
	defer hs.Close()
	tcpLis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(tcpLis) // TCP as well

	cli := tp.NewPeer(&tp.PeerConfig{RedialTimes: 3})
	defer cli.Close()
	for _, addr := range []string{"ws://" + httpLis.Addr().String() + "/tp", tcpLis.Addr().String()} {
		sess, rerr := cli.Dial(addr) // a ws:// URL too, this package being imported
		if rerr != nil {
			fmt.Println(rerr)
			return
		}
		var sum int
		rerr = sess.Pull("/math/add", &[2]int{1, 2}, &sum).Rerror()
		fmt.Println(sum, rerr)
	}
	// Output:
	// 3 <nil>
	// 3 <nil>
}
