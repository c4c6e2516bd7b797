// Command plugins shows three plugins working together on one server:
// plugin/auth admits only clients with a known token, plugin/heartbeat
// keeps idle sessions alive and would close silent ones, and Aliases, a
// plugin written here, serves an old route name under its new one.
//
// One client with the right token pulls the new route and its old alias,
// then stays idle for several heartbeat intervals and is still connected,
// since the pings keep proving the session alive. A second client with a
// wrong token is refused at Dial with 401. The program prints what happens
// and exits.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/auth"
	"github.com/teleport-go/teleport/plugin/heartbeat"
)

// interval is the heartbeat interval, short so that the example is quick;
// a real service would use seconds.
const interval = 50 * time.Millisecond

// readTimeout is the server's PeerConfig.DefaultReadTimeout: a session on
// which nothing is read for that long is closed. Only the pings keep an
// idle session under it.
const readTimeout = 4 * interval

// Aliases is a plugin that maps old pull paths to new ones, so that clients
// still calling a renamed route keep working: "/v1/add?double=1" is served
// by /math/add as "/math/add?double=1".
//
// It must be a peer plugin: the peer's PostReadPullHeader hooks run before
// the pull is routed, so the route is looked up with the rewritten URI,
// while the hooks of a group or a route run only after routing.
type Aliases struct {
	// to maps an old path to its new path; read-only once made.
	to map[string]string
	// rewrites counts the pulls that came under an old path.
	rewrites atomic.Int64
}

var _ tp.PostReadPullHeaderPlugin = (*Aliases)(nil)

// NewAliases returns the plugin serving each key of oldToNew under its
// value.
func NewAliases(oldToNew map[string]string) *Aliases {
	return &Aliases{to: oldToNew}
}

// Name returns "aliases".
func (a *Aliases) Name() string { return "aliases" }

// PostReadPullHeader rewrites the URI of a pull to an old path, keeping its
// query.
func (a *Aliases) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	to, ok := a.to[ctx.Path()]
	if !ok {
		return nil
	}
	if q := ctx.RawQuery(); q != "" {
		to += "?" + q
	}
	ctx.Input().SetUri(to)
	a.rewrites.Add(1)
	return nil
}

// Math is a pull controller: Math.Add -> /math/add.
type Math struct {
	tp.PullCtx
}

// Add returns the sum of the numbers it is given, doubled with ?double=1.
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

// User is a pull controller: User.Whoami -> /user/whoami.
type User struct {
	tp.PullCtx
}

// Whoami returns the user the session was authenticated as: the check
// given to auth.NewServer named the session after its user.
func (u *User) Whoami(*struct{}) (string, *tp.Rerror) {
	return u.Session().Id(), nil
}

// PingCounter counts the heartbeat pings a peer receives. It is added
// before the heartbeat plugin: that plugin answers a ping in its own
// PostReadPullHeader with an error, which stops the hooks after it.
type PingCounter struct {
	n atomic.Int64
}

var _ tp.PostReadPullHeaderPlugin = (*PingCounter)(nil)

// Name returns "ping-counter".
func (c *PingCounter) Name() string { return "ping-counter" }

// PostReadPullHeader counts a ping.
func (c *PingCounter) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	if ctx.Path() == heartbeat.PingUri {
		c.n.Add(1)
	}
	return nil
}

// tokens maps each token the server admits to its user.
var tokens = map[string]string{"secret": "alice"}

// check admits the tokens the server knows and names each session after
// its user, so that handlers (and GetSession) find it by that name.
func check(token string, sess tp.PreSession) *tp.Rerror {
	user, ok := tokens[token]
	if !ok {
		return auth.Unauthorized("unknown token")
	}
	sess.SetId(user)
	return nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "plugins:", err)
		os.Exit(1)
	}
}

// run starts the server and the clients, prints to out what happens, and
// closes every peer.
func run(out io.Writer) error {
	// Plugins run in the order added: auth first, so that its handshake
	// is over before the heartbeat may send a ping on the session.
	aliases := NewAliases(map[string]string{"/v1/add": "/math/add"})
	srv := tp.NewPeer(&tp.PeerConfig{DefaultReadTimeout: readTimeout},
		auth.NewServer(check, nil),
		heartbeat.New(interval),
		aliases,
	)
	srv.PullRouter.Reg(new(Math))
	srv.PullRouter.Reg(new(User))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer srv.Close()
	addr := lis.Addr().String()

	// The good client: the right token, and a heartbeat of its own.
	pings := new(PingCounter)
	cli := tp.NewPeer(nil, auth.NewClient("secret", nil), pings, heartbeat.New(interval))
	defer cli.Close()
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		return rerr.ToError()
	}
	var user string
	if rerr := sess.Pull("/user/whoami", struct{}{}, &user).Rerror(); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "client authenticated as", user)
	for _, uri := range []string{"/math/add?double=1", "/v1/add?double=1"} {
		var sum int
		if rerr := sess.Pull(uri, []int{1, 2, 3}, &sum).Rerror(); rerr != nil {
			return fmt.Errorf("pull %s: %w", uri, rerr.ToError())
		}
		fmt.Fprintf(out, "client pulled %s [1 2 3] -> %d\n", uri, sum)
	}

	// Idle for twice the server's read timeout: only the pings, every
	// interval both ways, keep the session open.
	idle := 2 * readTimeout
	time.Sleep(idle)
	fmt.Fprintf(out, "client idle for %v (server read timeout %v): session open: %v, pings received: %v\n",
		idle, readTimeout, sess.IsOk(), pings.n.Load() > 0)
	if !sess.IsOk() {
		return errors.New("the idle session was closed despite the heartbeat")
	}

	// The bad client: the server refuses its token, so Dial fails.
	intruder := tp.NewPeer(nil, auth.NewClient("guess", nil))
	defer intruder.Close()
	_, rerr = intruder.Dial(addr)
	if rerr == nil || rerr.Code != auth.CodeUnauthorized {
		return fmt.Errorf("dial with a wrong token: got %v, want code %d", rerr, auth.CodeUnauthorized)
	}
	fmt.Fprintln(out, "dial with a wrong token ->", rerr)

	_, found := srv.GetSession(user)
	fmt.Fprintf(out, "summary: server sessions: %d (%s found by id: %v), pulls served through an alias: %d\n",
		srv.CountSession(), user, found, aliases.rewrites.Load())

	intruder.Close()
	cli.Close()
	srv.Close()
	return <-served
}
