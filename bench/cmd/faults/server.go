//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	tp "github.com/teleport-go/teleport"
)

// serveEnv, set to a listen address, makes this binary the server child of
// a scenario (run inside its namespace by ip netns exec).
const serveEnv = "TPFAULTS_SERVE"

// Echo is the servers' pull controller.
type Echo struct{ tp.PullCtx }

// Call answers its argument: idempotent, as the Balancer is told.
func (e *Echo) Call(s *string) (string, *tp.Rerror) { return *s, nil }

// serve listens on addr, prints "ready", and serves until SIGTERM (a
// graceful Close) or SIGKILL.
func serve(addr string) error {
	tp.SetLoggerLevel("ERROR")
	peer := tp.NewPeer(nil)
	peer.PullRouter.Reg(new(Echo))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- peer.Serve(lis) }()
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case <-sig:
		return peer.Close()
	case err := <-done:
		return err
	}
}
