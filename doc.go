// Package tp is teleport: a socket framework for long-lived connections.
//
// A Peer is server and client at once. It listens on several addresses
// (Listen, Serve) and dials others (Dial); every connection becomes a
// Session, over which either side can pull (send a request and wait for its
// reply), push (send one way) and reply. Handlers are the exported methods
// of controller structs registered on the peer's PullRouter and PushRouter:
//
//	type Home struct{ tp.PullCtx }
//
//	// TestAdd is the route /home/test_add.
//	func (h *Home) TestAdd(a *[2]int) (int, *tp.Rerror) { return a[0] + a[1], nil }
//
//	srv := tp.NewPeer(nil)
//	srv.PullRouter.Reg(new(Home))
//	lis, _ := net.Listen("tcp", "127.0.0.1:9090")
//	go srv.Serve(lis) // or Listen, serving PeerConfig.ListenAddrs
//
//	sess, rerr := tp.NewPeer(nil).Dial("127.0.0.1:9090")
//	var sum int
//	rerr = sess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror()
//
// Plugins hook every stage of a connection's life (see Plugin). Bodies are
// encoded by the codecs of package codec, frames by the protocol of package
// socket (teleport v3's "fast" protocol by default) through the transfer
// filters of package xfer. Close and Shutdown are graceful: remote peers are
// told to leave, handlers in flight finish and reply, and nothing leaks.
//
// A Balancer spreads calls over the server peers of one service, as a
// Resolver reports them (StaticResolver, or the etcd one of module
// plugin/discovery/etcd), and sends a failed call to another instance when
// that is safe (see Balancer.Pull).
package tp
