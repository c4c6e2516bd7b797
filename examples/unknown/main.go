// Command unknown shows the handlers of routes that no controller matches.
// The server's unknown pull handler answers any path, reading the path, the
// query and the raw body of the pull and decoding the body with Bind; its
// unknown push handler receives pushes to any path. A second server without
// unknown handlers answers the same pull with code 404.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

// Echo is what the unknown pull handler replies: what it learnt of the pull.
type Echo struct {
	Path  string
	Query map[string][]string
	// Codec is the body codec of the pull, as a character, or "none".
	Codec string
	// Raw is the body as it arrived, undecoded.
	Raw string
	// Bound is the body decoded by Bind.
	Bound interface{}
}

// Math is a regular pull controller: routes it has never reach the unknown
// handler.
type Math struct {
	tp.PullCtx
}

// Double returns twice n.
func (m *Math) Double(n *int) (int, *tp.Rerror) { return 2 * *n, nil }

// unknownPull answers pulls of every path without a controller. A path under
// /forbidden is refused with a handler error.
func unknownPull(ctx tp.UnknownPullCtx) (interface{}, *tp.Rerror) {
	if strings.HasPrefix(ctx.Path(), "/forbidden") {
		return nil, tp.NewRerror(403, "Forbidden", "no route "+ctx.Path()+" for you")
	}
	echo := Echo{
		Path:  ctx.Path(),
		Query: ctx.Query(),
		Codec: "none",
		Raw:   string(ctx.InputBodyBytes()),
	}
	if id := ctx.GetBodyCodec(); id != codec.NilCodecId {
		echo.Codec = string(id)
	}
	var err error
	if ctx.GetBodyCodec() == codec.IdString {
		var s string
		_, err = ctx.Bind(&s)
		echo.Bound = s
		// The reply is a struct, which the string codec cannot carry:
		// answer in JSON whatever the pull used.
		ctx.SetBodyCodec(codec.IdJSON)
	} else {
		var v interface{}
		_, err = ctx.Bind(&v)
		echo.Bound = v
	}
	if err != nil {
		return nil, tp.NewRerror(tp.CodeBadPacket, "Bad Packet", err.Error())
	}
	return echo, nil
}

// pushed carries what the unknown push handler received to run.
var pushed = make(chan string, 1)

// unknownPush receives pushes to every path without a controller.
func unknownPush(ctx tp.UnknownPushCtx) {
	var v map[string]interface{}
	if _, err := ctx.Bind(&v); err != nil {
		pushed <- fmt.Sprintf("push %s: bad body: %v", ctx.Uri(), err)
		return
	}
	pushed <- fmt.Sprintf("unknown push handler got %s (query %v): %v", ctx.Path(), ctx.Query(), v)
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "unknown:", err)
		os.Exit(1)
	}
}

// serve starts srv on a port of its own. Its stop function closes srv and
// returns the error Serve ended with.
func serve(srv *tp.Peer) (addr string, stop func() error, err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	return lis.Addr().String(), func() error {
		srv.Close()
		return <-served
	}, nil
}

// run starts two servers and a client, prints what the client's pulls and
// push get, and closes every peer.
func run(out io.Writer) (err error) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	srv.PullRouter.SetUnknown(unknownPull)
	srv.PushRouter.SetUnknown(unknownPush)
	addr, stop, err := serve(srv)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()

	// plain has routes but no unknown handlers.
	plain := tp.NewPeer(nil)
	plain.PullRouter.Reg(new(Math))
	plainAddr, stopPlain, err := serve(plain)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopPlain()) }()

	cli := tp.NewPeer(nil)
	defer cli.Close()
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		return rerr.ToError()
	}

	var n int
	if rerr := sess.Pull("/math/double", 21, &n).Rerror(); rerr != nil {
		return fmt.Errorf("pull /math/double: %w", rerr.ToError())
	}
	fmt.Fprintln(out, "registered route /math/double 21 ->", n)

	for _, p := range []struct {
		uri      string
		body     interface{}
		settings []socket.PacketSetting
	}{
		{"/user/profile?id=7&fields=name&fields=email", map[string]interface{}{"token": "t0k3n", "verbose": true}, nil},
		{"/notes/add", "remember the milk", []socket.PacketSetting{socket.WithBodyCodec(codec.IdString), socket.WithQuery("tag", "shopping list")}},
		{"/ping", nil, nil},
	} {
		var echo Echo
		cmd := sess.Pull(p.uri, p.body, &echo, p.settings...)
		if rerr := cmd.Rerror(); rerr != nil {
			return fmt.Errorf("pull %s: %w", p.uri, rerr.ToError())
		}
		fmt.Fprintf(out, "unknown pull handler answered %s: path=%s query=%v codec=%s raw=%q bound=%v\n",
			cmd.Output().Uri(), echo.Path, echo.Query, echo.Codec, echo.Raw, echo.Bound)
	}

	rerr = sess.Pull("/forbidden/zone", nil, nil).Rerror()
	if rerr == nil {
		return errors.New("pull /forbidden/zone: no error, want the handler's 403")
	}
	fmt.Fprintf(out, "unknown pull handler refused /forbidden/zone: code %d %s (%s)\n", rerr.Code, rerr.Message, rerr.Detail)

	if rerr := sess.Push("/events/click?x=10&y=20", map[string]interface{}{"button": "left"}); rerr != nil {
		return fmt.Errorf("push: %w", rerr.ToError())
	}
	select {
	case got := <-pushed:
		fmt.Fprintln(out, got)
	case <-time.After(5 * time.Second):
		return errors.New("the unknown push handler was not called")
	}

	// Without an unknown handler, the same pull is not found.
	plainSess, rerr := cli.Dial(plainAddr)
	if rerr != nil {
		return rerr.ToError()
	}
	rerr = plainSess.Pull("/user/profile?id=7", nil, nil).Rerror()
	if rerr == nil || rerr.Code != tp.CodeNotFound {
		return fmt.Errorf("pull /user/profile from a server without unknown handler: got %v, want code %d", rerr, tp.CodeNotFound)
	}
	fmt.Fprintf(out, "server without unknown handler answered /user/profile: code %d %s (%s)\n", rerr.Code, rerr.Message, rerr.Detail)
	return nil
}
