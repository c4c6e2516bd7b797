// Package embedded runs an etcd server inside the process, on loopback,
// for development, tests and examples: a real etcd, the same code as the
// etcd binary, without installing one. Production runs an etcd cluster of
// its own (see the etcd package's documentation).
package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// StartTimeout bounds how long Start waits for the server to be ready.
const StartTimeout = 10 * time.Second

// Server is a running embedded etcd.
type Server struct {
	etcd     *embed.Etcd
	endpoint string
}

// Start runs a one-member etcd cluster keeping its data in dir, serving
// clients on an OS-chosen loopback port, and returns once it is ready.
func Start(dir string) (*Server, error) { return StartAt(dir, "127.0.0.1") }

// StartAt is Start serving clients on host (an IP address; "0.0.0.0": all
// of the machine's, or of the network namespace's) at an OS-chosen port,
// which Endpoint tells. Its peer port stays on loopback.
func StartAt(dir, host string) (*Server, error) {
	cfg := embed.NewConfig()
	cfg.Name = "embedded"
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	loop := func(port string) []url.URL { return []url.URL{{Scheme: "http", Host: "127.0.0.1:" + port}} }
	clients := []url.URL{{Scheme: "http", Host: net.JoinHostPort(host, "0")}}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = clients, clients
	// The peer port is never dialed by a one-member cluster, but it is
	// bound: 0 picks a free one.
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = loop("0"), loop("0")
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Development data need not survive a power cut: no fsync, a fast start.
	cfg.UnsafeNoFsync = true
	// One member elects itself: a short election timeout makes it ready
	// sooner (with the defaults, 100 ms and 1 s, it takes about 0.8 s).
	cfg.TickMs, cfg.ElectionMs = 10, 100
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(StartTimeout):
		e.Close()
		return nil, errors.New("embedded etcd: not ready after " + StartTimeout.String())
	}
	return &Server{etcd: e, endpoint: e.Clients[0].Addr().String()}, nil
}

// Endpoint returns the client address, for clientv3.Config.Endpoints
// (its IP is the unspecified one when StartAt was given it: dial the
// port at one of the addresses it stands for).
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the server and waits for it.
func (s *Server) Close() { s.etcd.Close() }
