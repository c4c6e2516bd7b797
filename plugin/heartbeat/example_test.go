package heartbeat_test

import (
	"fmt"
	"io"
	"net"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/heartbeat"
)

func ExampleNew() {
	// The server pings its sessions every 20ms and closes the ones that
	// stay silent for 3 intervals.
	srv := tp.NewPeer(nil, heartbeat.New(20*time.Millisecond))
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

	// A teleport client needs no plugin: it answers the pings, so its
	// idle session stays open.
	cli := tp.NewPeer(nil)
	defer cli.Close()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		fmt.Println(rerr)
		return
	}
	time.Sleep(200 * time.Millisecond) // idle for 10 intervals
	fmt.Println("idle teleport client still connected:", sess.IsOk())

	// A client that never answers is cut off.
	raw, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer raw.Close()
	start := time.Now()
	_, err = io.Copy(io.Discard, raw) // the pings, until the server closes
	fmt.Println("silent client closed by the server:", err == nil, time.Since(start) < time.Second)
	// Output:
	// idle teleport client still connected: true
	// silent client closed by the server: true true
}
