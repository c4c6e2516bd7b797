// Package etcd runs many teleport servers of one service behind one name,
// with etcd as the registry: a Registry plugin lists each server peer's
// addresses in etcd while it runs, and a Resolver gives a tp.Balancer the
// live list.
//
// A server:
//
//	reg := etcd.NewRegistry(client, etcd.Config{Service: "calc", TTL: 5 * time.Second, Version: "1.4.0"})
//	srv := tp.NewPeer(&tp.PeerConfig{ListenAddrs: []string{"10.0.0.7:9090"}}, reg)
//
// Once the peer serves an address (PostListen), the registry puts the key
// <prefix>/<service>/<address> under a lease of Config.TTL that it keeps
// alive, its value the instance as JSON: address, weight, version, the
// routes the peer serves and Config.Meta. When the peer closes (Close,
// Shutdown, Reboot), its PreClose hook revokes the lease, which deletes
// the keys, before the peer tells its clients to leave; when the process
// crashes, the lease expires within the TTL.
//
// A client:
//
//	b := tp.NewBalancer(nil, etcd.NewResolver(client, ""), &tp.BalancerConfig{Service: "calc"})
//	cmd := b.Pull("/math/add", args, &reply)
//
// This package is a Go module of its own, so that etcd's dependencies
// (gRPC, zap, ...) never reach the go.mod of programs that use teleport
// without it. It needs Go 1.26 (etcd v3.7 does). Its embedded sub-package
// runs an etcd server inside the process for development and tests; in
// production the clients and servers talk to an etcd cluster of its own
// (an etcd server from the operating system's packages works the same).
package etcd
