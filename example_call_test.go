package tp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
)

// Lookup is a pull controller whose handler passes its Context on, as it
// would to a database or to another service.
type Lookup struct {
	tp.PullCtx
}

// User answers the name of a user, or the caller's deadline error.
func (l *Lookup) User(id *int) (string, *tp.Rerror) {
	ctx := l.Context() // the caller's deadline, cancelled if it gives up
	if _, ok := ctx.Deadline(); ok {
		l.SetMeta("deadline", "yes")
	}
	select {
	case <-time.After(time.Duration(*id) * time.Millisecond): // the work
		return fmt.Sprintf("user-%d", *id), nil
	case <-ctx.Done():
		return "", tp.NewRerror(tp.CodeHandleTimeout, "Handle Timeout", ctx.Err().Error())
	}
}

func ExamplePeer_Dial() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	go srv.Serve(lis)
	defer srv.Close()

	cli := tp.NewPeer(&tp.PeerConfig{DefaultDialTimeout: 2 * time.Second, RedialTimes: 3})
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil { // a *tp.Rerror: compare it with nil, not as an error
		fmt.Println(rerr)
		return
	}
	fmt.Println("ok:", sess.IsOk())

	lis2, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis2.Addr().String()
	lis2.Close() // nobody listens there now
	_, rerr = cli.Dial(addr)
	fmt.Println("code:", rerr.Code)
	var opErr *net.OpError
	fmt.Println("a net error:", errors.As(rerr, &opErr))
	// Output:
	// ok: true
	// code: 105
	// a net error: true
}

func ExampleSession_Pull() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	sess, stop := serve(srv)
	defer stop()

	var sum int
	cmd := sess.Pull("/math/add", []int{1, 2, 3}, &sum)
	if err := cmd.Err(); err != nil { // nil on success
		fmt.Println(err)
		return
	}
	fmt.Println("sum:", sum)

	// With a deadline: it bounds the wait here, and travels to the
	// handler, whose Context carries it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var q int
	err := sess.Pull("/math/div", [2]int{1, 0}, &q, socket.WithContext(ctx)).Err()
	fmt.Println(err)
	// Output:
	// sum: 6
	// rerror 400: Bad Packet: division by zero
}

func ExampleSession_AsyncPull() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	sess, stop := serve(srv)
	defer stop()

	// Several pulls in flight at once, their ends on one buffered channel.
	done := make(chan *tp.PullCmd, 3)
	sums := make([]int, 3)
	for i := range sums {
		sess.AsyncPull("/math/add", []int{i, 10}, &sums[i], done)
	}
	for range sums {
		if err := (<-done).Err(); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(sums)
	// Output:
	// [10 11 12]
}

func ExamplePullCmd_InputMeta() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Lookup))
	sess, stop := serve(srv)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var name string
	cmd := sess.Pull("/lookup/user", 7, &name, socket.WithContext(ctx))
	// The reply's metadata, set by the handler with SetMeta.
	fmt.Println(name, cmd.Err(), string(cmd.InputMeta().Peek("deadline")))
	// Output:
	// user-7 <nil> yes
}

func ExamplePullCtx_Context() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Lookup))
	sess, stop := serve(srv)
	defer stop()

	// The handler takes 1 s; the caller allows 50 ms. The handler's
	// Context ends with the caller's deadline, so it stops too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tp.Call[string](ctx, sess, "/lookup/user", 1000)
	// Whichever side's timer wins, the call ends with a timeout at once.
	var rerr *tp.Rerror
	fmt.Println(errors.As(err, &rerr) && rerr.Timeout(), time.Since(start) < 500*time.Millisecond)
	// Output:
	// true true
}

func ExampleCall() {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	sess, stop := serve(srv)
	defer stop()

	sum, err := tp.Call[int](context.Background(), sess, "/math/add", []int{4, 5})
	fmt.Println(sum, err)
	_, err = tp.Call[int](context.Background(), sess, "/math/div", [2]int{1, 0})
	fmt.Println(errors.Is(err, tp.NewRerror(tp.CodeBadPacket, "", "")))
	// Output:
	// 9 <nil>
	// true
}
