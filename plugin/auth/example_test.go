package auth_test

import (
	"fmt"
	"net"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/auth"
)

// Profile is a pull controller of the example server.
type Profile struct{ tp.PullCtx }

// Whoami answers the user the session was authenticated as.
func (p *Profile) Whoami(*struct{}) (string, *tp.Rerror) {
	return p.Session().Id(), nil
}

func Example() {
	// The server admits the tokens it knows, and names each session after
	// the token's user.
	users := map[string]string{"t0k3n": "alice"}
	srv := tp.NewPeer(nil, auth.NewServer(func(token string, sess tp.PreSession) *tp.Rerror {
		user, ok := users[token]
		if !ok {
			return auth.Unauthorized("unknown token")
		}
		sess.SetId(user)
		return nil
	}, nil))
	srv.PullRouter.Reg(new(Profile))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Close()
		<-served
	}()

	// A client with a token the server does not know is refused at Dial.
	intruder := tp.NewPeer(nil, auth.NewClient("guess", nil))
	defer intruder.Close()
	_, rerr := intruder.Dial(lis.Addr().String())
	fmt.Println("intruder:", rerr)

	// A client with a good token dials and pulls as usual.
	cli := tp.NewPeer(nil, auth.NewClient("t0k3n", nil))
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		fmt.Println(rerr)
		return
	}
	var user string
	if rerr := sess.Pull("/profile/whoami", struct{}{}, &user).Rerror(); rerr != nil {
		fmt.Println(rerr)
		return
	}
	fmt.Println("user:", user)
	// Output:
	// intruder: rerror 401: Unauthorized: unknown token
	// user: alice
}
