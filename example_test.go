package tp_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	tp "github.com/teleport-go/teleport"
)

// Math is a pull controller: it embeds tp.PullCtx, and each exported
// method takes a pointer argument and returns a result and a *tp.Rerror.
type Math struct {
	tp.PullCtx
}

// Add answers the sum of its arguments.
func (m *Math) Add(args *[]int) (int, *tp.Rerror) {
	sum := 0
	for _, n := range *args {
		sum += n
	}
	return sum, nil
}

// Div answers a/b, or an error for b == 0.
func (m *Math) Div(args *[2]int) (int, *tp.Rerror) {
	if args[1] == 0 {
		return 0, tp.NewRerror(tp.CodeBadPacket, "Bad Packet", "division by zero")
	}
	return args[0] / args[1], nil
}

// Chat is a push controller: it embeds tp.PushCtx, and its methods take a
// pointer argument and return nothing.
type Chat struct {
	tp.PushCtx
}

// said carries what Chat.Say heard to the example that pushed it.
var said = make(chan string, 1)

// Say reports a message with its route and room.
func (c *Chat) Say(msg *string) {
	said <- fmt.Sprintf("%s in room %s: %s", c.Path(), c.Query().Get("room"), *msg)
}

// serve serves srv on a loopback port and dials it from a new client peer.
// stop closes both peers and waits for Serve to return.
func serve(srv *tp.Peer) (sess tp.Session, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := tp.NewPeer(nil)
	stop = func() {
		cli.Close()
		srv.Close()
		<-served
	}
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		stop()
		panic(rerr)
	}
	return sess, stop
}

func ExampleNewPeer() {
	// The server: a peer serving a listener.
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	// The client: a peer dialing the server.
	cli := tp.NewPeer(&tp.PeerConfig{DefaultDialTimeout: 5 * time.Second})
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		fmt.Println(rerr)
	} else {
		var sum int
		if rerr := sess.Pull("/math/add", []int{1, 2, 3}, &sum).Rerror(); rerr != nil {
			fmt.Println(rerr)
		}
		fmt.Println("sum:", sum)
	}

	cli.Close()
	srv.Close() // Serve returns once the peer is closed
	fmt.Println("serve:", <-served)
	// Output:
	// sum: 6
	// serve: <nil>
}

// routePrinter is a PostReg plugin printing every handler registered.
type routePrinter struct{}

func (routePrinter) Name() string { return "route-printer" }

func (routePrinter) PostReg(h *tp.Handler) *tp.Rerror {
	kind := "push"
	if h.IsPull() {
		kind = "pull"
	}
	fmt.Printf("%s %s: arg %v, reply %v\n", kind, h.Name(), h.ArgElemType(), h.ReplyType())
	return nil
}

func ExampleRouter_Reg() {
	peer := tp.NewPeer(nil, routePrinter{})
	defer peer.Close()
	// Routes are /<controller>/<method>, both in snake case; push
	// handlers have no reply.
	peer.PullRouter.Reg(new(Math))
	peer.PushRouter.Reg(new(Chat))
	// Output:
	// pull /math/add: arg []int, reply int
	// pull /math/div: arg [2]int, reply int
	// push /chat/say: arg string, reply <nil>
}

func ExampleSession_Push() {
	srv := tp.NewPeer(nil)
	srv.PushRouter.Reg(new(Chat))
	sess, stop := serve(srv)
	defer stop()

	// Push returns once the push is handed to the connection; no reply
	// comes back.
	if rerr := sess.Push("/chat/say?room=gophers", "hello"); rerr != nil {
		fmt.Println(rerr)
		return
	}
	fmt.Println(<-said)
	// Output:
	// /chat/say in room gophers: hello
}

func ExampleRouter_SetUnknown() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.SetUnknown(func(ctx tp.UnknownPullCtx) (interface{}, *tp.Rerror) {
		var args map[string]int
		if _, err := ctx.Bind(&args); err != nil {
			return nil, tp.NewRerror(tp.CodeBadPacket, "Bad Packet", err.Error())
		}
		return fmt.Sprintf("nothing at %s (n=%d)", ctx.Path(), args["n"]), nil
	})
	sess, stop := serve(srv)
	defer stop()

	var reply string
	if rerr := sess.Pull("/no/such/route?x=1", map[string]int{"n": 7}, &reply).Rerror(); rerr != nil {
		fmt.Println(rerr)
		return
	}
	fmt.Println(reply)
	// Output:
	// nothing at /no/such/route (n=7)
}

func ExampleRouter_Group() {
	srv := tp.NewPeer(nil)
	api := srv.PullRouter.Group("v1").Group("/api/")
	api.Reg(new(Math))
	sess, stop := serve(srv)
	defer stop()

	// Groups prefix the route; the query plays no part in routing.
	var sum int
	if rerr := sess.Pull("/v1/api/math/add?trace=1", []int{4, 5}, &sum).Rerror(); rerr != nil {
		fmt.Println(rerr)
		return
	}
	fmt.Println(sum)
	rerr := sess.Pull("/math/add", []int{4, 5}, &sum).Rerror()
	fmt.Println(rerr.Code == tp.CodeNotFound)
	// Output:
	// 9
	// true
}

func ExampleRerror() {
	// A *Rerror is what a pull ends with; ToError makes it an error that
	// errors.Is matches by code, through wrapping too.
	rerr := tp.NewRerror(tp.CodeNotFound, "Not Found", "no user 42")
	err := fmt.Errorf("load profile: %w", rerr.ToError())
	fmt.Println(err)
	fmt.Println(errors.Is(err, tp.NewRerror(tp.CodeNotFound, "", "")))
	fmt.Println(errors.Is(err, tp.NewRerror(tp.CodeInternalServerError, "", "")))

	var got *tp.Rerror
	if errors.As(err, &got) {
		fmt.Println(got.Code, got.Detail)
	}
	fmt.Println(got.String()) // as carried in the reply's metadata

	// A nil *Rerror is a nil error, not an interface holding nil.
	var none *tp.Rerror
	fmt.Println(none.ToError() == nil)
	// Output:
	// load profile: rerror 404: Not Found: no user 42
	// true
	// false
	// 404 no user 42
	// {"code":404,"message":"Not Found","detail":"no user 42"}
	// true
}

// aliasPlugin rewrites the URI of pulls to an alias before they are routed:
// peer plugins' PostReadPullHeader hooks run before routing.
type aliasPlugin map[string]string

func (aliasPlugin) Name() string { return "alias" }

func (a aliasPlugin) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	if to, ok := a[ctx.Path()]; ok {
		if q := ctx.RawQuery(); q != "" {
			to += "?" + q
		}
		ctx.Input().SetUri(to)
	}
	return nil
}

func ExamplePlugin() {
	srv := tp.NewPeer(nil, aliasPlugin{"/sum": "/math/add", "/div": "/math/div"})
	srv.PullRouter.Reg(new(Math))
	sess, stop := serve(srv)
	defer stop()

	var n int
	if rerr := sess.Pull("/sum?x=1", []int{10, 20, 12}, &n).Rerror(); rerr != nil {
		fmt.Println(rerr)
		return
	}
	fmt.Println(n)
	// The aliased handler's errors come back as they are.
	rerr := sess.Pull("/div", [2]int{1, 0}, &n).Rerror()
	fmt.Println(rerr.Code, rerr.Detail)
	// Output:
	// 42
	// 400 division by zero
}
