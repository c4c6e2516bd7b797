// Command quickstart starts a server and a client in one process. The
// client pulls and pushes to the server; the server, which is a peer too,
// pulls and pushes back to the client. It prints what happens and exits.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"

	tp "github.com/teleport-go/teleport"
)

// Math is a pull controller: each exported method is a route,
// Math.Add -> /math/add.
type Math struct {
	tp.PullCtx
}

// Add returns the sum of the numbers it is given.
func (m *Math) Add(nums *[]int) (int, *tp.Rerror) {
	sum := 0
	for _, n := range *nums {
		sum += n
	}
	if m.Query().Get("double") == "1" {
		sum *= 2
	}
	return sum, nil
}

// Chat is a push controller: Chat.Say -> /chat/say.
type Chat struct {
	tp.PushCtx
}

// received collects the pushes each side got, so run can wait for them.
var received = make(chan string, 2)

// Say records a push.
func (c *Chat) Say(msg *string) {
	received <- fmt.Sprintf("push %s from %s: %q", c.Uri(), c.Ip(), *msg)
}

// Clock is the client's own pull controller, which the server calls.
type Clock struct {
	tp.PullCtx
}

// Now returns the client's time.
func (c *Clock) Now(*struct{}) (string, *tp.Rerror) {
	return time.Now().Format(time.RFC3339), nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run starts the server and the client, prints to out what they exchange,
// and closes both.
func run(out io.Writer) error {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	srv.PushRouter.Reg(new(Chat))
	// Serve takes a listener of ours, so the OS can choose the port;
	// with PeerConfig.ListenAddrs, srv.Listen() opens them itself.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer srv.Close()
	addr := lis.Addr().String()

	cli := tp.NewPeer(nil)
	defer cli.Close()
	cli.PullRouter.Reg(new(Clock))
	cli.PushRouter.Reg(new(Chat))
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		return rerr.ToError()
	}

	// Client -> server: a pull and a push.
	var sum int
	if rerr := sess.Pull("/math/add?double=1", &[]int{1, 2, 3}, &sum).Rerror(); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "client pulled /math/add?double=1 [1 2 3] ->", sum)
	if rerr := sess.Push("/chat/say", "hello from the client"); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "server got", <-received)

	// Server -> client over the same connection: a pull and a push.
	var back tp.Session
	srv.RangeSession(func(s tp.Session) bool { back = s; return false })
	var now string
	if rerr := back.Pull("/clock/now", struct{}{}, &now).Rerror(); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "server pulled /clock/now ->", now)
	if rerr := back.Push("/chat/say", "hello from the server"); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "client got", <-received)

	// An error travels back as a *tp.Rerror.
	rerr = sess.Pull("/math/missing", nil, nil).Rerror()
	if rerr == nil {
		return fmt.Errorf("pull of /math/missing: no error, want code %d", tp.CodeNotFound)
	}
	fmt.Fprintln(out, "pull of an unknown route ->", rerr.Code, rerr.Message)

	cli.Close()
	srv.Close()
	return <-served
}
