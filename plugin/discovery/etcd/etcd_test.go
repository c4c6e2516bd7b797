package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/tptest"
	"github.com/teleport-go/teleport/plugin/discovery/etcd/embedded"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) {
	tptest.DiscardLogs()
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// startEtcd runs an embedded etcd until the test ends and returns its
// endpoint.
func startEtcd(t *testing.T) string {
	t.Helper()
	start := time.Now()
	s, err := embedded.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("embedded etcd ready after %v", d)
	}
	t.Cleanup(s.Close)
	return s.Endpoint()
}

// newClient returns an etcd client closed when the test ends.
func newClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Node is the controller of the test servers.
type Node struct{ tp.PullCtx }

// Name answers with the address that served the pull.
func (n *Node) Name(*struct{}) (string, *tp.Rerror) { return n.Session().LocalAddr().String(), nil }

// server is one instance of the service "calc", registered in etcd.
type server struct {
	peer   *tp.Peer
	reg    *Registry
	client *clientv3.Client // the registry's own: closing it stops the keep-alive
	addr   string
	lis    *trackListener
	served chan error
}

// trackListener keeps the connections it accepted, so that crash can
// break them all, as a killed process's kernel does.
type trackListener struct {
	net.Listener
	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func startServer(t *testing.T, endpoint string, cfg Config) *server {
	t.Helper()
	if cfg.Service == "" {
		cfg.Service = "calc"
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{client: newClient(t, endpoint), lis: &trackListener{Listener: lis}, addr: lis.Addr().String(), served: make(chan error, 1)}
	s.reg = NewRegistry(s.client, cfg)
	s.peer = tp.NewPeer(nil, s.reg)
	s.peer.PullRouter.Reg(new(Node))
	go func() { s.served <- s.peer.Serve(s.lis) }()
	t.Cleanup(s.stop)
	return s
}

// stop closes the server gracefully (once).
func (s *server) stop() {
	s.peer.Close()
	<-s.served
	s.served <- nil
}

// crash ends the server as a killed process ends: its lease is no longer
// kept alive but not revoked, its connections break without a goaway.
func (s *server) crash() {
	s.client.Close()
	s.lis.Listener.Close()
	s.lis.mu.Lock()
	for _, c := range s.lis.conns {
		c.Close()
	}
	s.lis.mu.Unlock()
	s.stop() // frees the goroutines; its revoke fails: the client is closed
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ready returns the addresses of the instances b has a ready session to.
func ready(b *tp.Balancer) map[string]bool {
	m := map[string]bool{}
	for _, in := range b.Stats().Instances {
		if in.Ready {
			m[in.Addr] = true
		}
	}
	return m
}

func listed(b *tp.Balancer, addr string) bool {
	for _, in := range b.Stats().Instances {
		if in.Addr == addr {
			return true
		}
	}
	return false
}

func newBalancer(t *testing.T, endpoint string, cfg tp.BalancerConfig) *tp.Balancer {
	t.Helper()
	if cfg.Service == "" {
		cfg.Service = "calc"
	}
	b := tp.NewBalancer(nil, NewResolver(newClient(t, endpoint), ""), &cfg)
	t.Cleanup(func() { b.Close() })
	return b
}

// A served address is registered with its metadata under a lease, and
// removed when the peer closes.
func TestRegistration(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	s := startServer(t, ep, Config{TTL: 2 * time.Second, Weight: 3, Version: "1.2.3", Meta: map[string]string{"zone": "a"}})
	key := "/teleport/calc/" + s.addr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var kv *clientv3.GetResponse
	waitFor(t, "the key", func() bool {
		var err error
		kv, err = cli.Get(ctx, key)
		return err == nil && len(kv.Kvs) == 1
	})
	var v value
	if err := json.Unmarshal(kv.Kvs[0].Value, &v); err != nil {
		t.Fatal(err)
	}
	want := value{Addr: s.addr, Weight: 3, Version: "1.2.3", Routes: []string{"/node/name"}, Meta: map[string]string{"zone": "a"}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("value %+v, want %+v", v, want)
	}
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(kv.Kvs[0].Lease))
	if err != nil || ttl.GrantedTTL != 2 || ttl.TTL <= 0 {
		t.Fatalf("lease: %+v, %v", ttl, err)
	}
	s.stop()
	if kv, err := cli.Get(ctx, key); err != nil || len(kv.Kvs) != 0 {
		t.Fatalf("after Close: %v, %v", kv, err)
	}
}

// A route registered after the peer listens is published too.
func TestRegistrationLateRoute(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	s := startServer(t, ep, Config{})
	s.peer.PullRouter.Group("v2").Reg(new(Node))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, "both routes", func() bool {
		kv, err := cli.Get(ctx, "/teleport/calc/"+s.addr)
		if err != nil || len(kv.Kvs) != 1 {
			return false
		}
		var v value
		return json.Unmarshal(kv.Kvs[0].Value, &v) == nil && reflect.DeepEqual(v.Routes, []string{"/node/name", "/v2/node/name"})
	})
}

// The resolver reports puts and deletes under the service's prefix, and
// skips what it cannot read.
func TestResolverWatch(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/p/calc/a:1", `{"addr":"a:1","weight":2}`); err != nil {
		t.Fatal(err)
	}
	updates := make(chan []tp.Instance, 16)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- NewResolver(newClient(t, ep), "/p").Watch(wctx, "calc", func(l []tp.Instance) { updates <- l })
	}()
	steps := []struct {
		name string
		do   func() error
		want []tp.Instance
	}{
		{"initial list", func() error { return nil }, []tp.Instance{{Addr: "a:1", Weight: 2}}},
		{"join", func() error { _, err := cli.Put(ctx, "/p/calc/b:2", `{"addr":"b:2","routes":["/x"]}`); return err },
			[]tp.Instance{{Addr: "a:1", Weight: 2}, {Addr: "b:2", Routes: []string{"/x"}}}},
		{"bad value skipped", func() error { _, err := cli.Put(ctx, "/p/calc/c:3", `{`); return err },
			[]tp.Instance{{Addr: "a:1", Weight: 2}, {Addr: "b:2", Routes: []string{"/x"}}}},
		{"other service ignored, leave", func() error {
			if _, err := cli.Put(ctx, "/p/calcx/d:4", `{"addr":"d:4"}`); err != nil {
				return err
			}
			_, err := cli.Delete(ctx, "/p/calc/a:1")
			return err
		}, []tp.Instance{{Addr: "b:2", Routes: []string{"/x"}}}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		select {
		case got := <-updates:
			if !reflect.DeepEqual(got, st.want) {
				t.Fatalf("%s: got %+v, want %+v", st.name, got, st.want)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no update", st.name)
		}
	}
	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Watch returned %v", err)
	}
}

// A join is seen within a second; a crashed instance is dropped by the
// balancer at once and removed from etcd within the TTL.
func TestJoinAndCrash(t *testing.T) {
	ep := startEtcd(t)
	b := newBalancer(t, ep, tp.BalancerConfig{})
	a := startServer(t, ep, Config{TTL: time.Second})
	waitFor(t, "the first instance", func() bool { return ready(b)[a.addr] })

	start := time.Now()
	c := startServer(t, ep, Config{TTL: time.Second})
	waitFor(t, "the join", func() bool { return ready(b)[c.addr] })
	join := time.Since(start)

	start = time.Now()
	c.crash()
	waitFor(t, "the crash noticed", func() bool { return !ready(b)[c.addr] })
	noticed := time.Since(start)
	waitFor(t, "the lease to expire", func() bool { return !listed(b, c.addr) })
	expired := time.Since(start)
	t.Logf("join seen in %v; crash: session lost after %v, instance removed after %v (TTL 1s)", join, noticed, expired)
	if join > time.Second {
		t.Errorf("join seen after %v", join)
	}
	// The lease was last renewed at most TTL/3 before the crash, etcd
	// checks for expired leases every 500 ms, and a loaded machine may add
	// its share: about 1.3 s is usual here.
	if expired > 2*time.Second {
		t.Errorf("crashed instance listed for %v, TTL 1s", expired)
	}
}

// Under continuous load, one of 3 servers crashing and one restarting
// costs no idempotent pull, and a graceful shutdown costs no pull at all.
func TestFailover(t *testing.T) {
	tests := []struct {
		name       string
		idempotent []string
		fail       func(t *testing.T, ep string, s []*server)
	}{
		{"crash one, start one", []string{"/node/"}, func(t *testing.T, ep string, s []*server) {
			s[0].crash()
			startServer(t, ep, Config{TTL: time.Second})
		}},
		{"graceful shutdown, not idempotent", nil, func(t *testing.T, ep string, s []*server) {
			s[1].stop()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := startEtcd(t)
			var s []*server
			for range 3 {
				s = append(s, startServer(t, ep, Config{TTL: time.Second}))
			}
			b := newBalancer(t, ep, tp.BalancerConfig{Idempotent: tc.idempotent, ProbeMinBackoff: 20 * time.Millisecond, ProbeMaxBackoff: 200 * time.Millisecond})
			waitFor(t, "3 instances", func() bool { return len(ready(b)) == 3 })
			var (
				ok, failed atomic.Int64
				lastErr    atomic.Value
				stopCh     = make(chan struct{})
				wg         sync.WaitGroup
			)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stopCh:
							return
						default:
						}
						if rerr := b.Pull("/node/name", nil, new(string)).Rerror(); rerr != nil {
							failed.Add(1)
							lastErr.Store(rerr.Error())
						} else {
							ok.Add(1)
						}
					}
				}()
			}
			waitFor(t, "load", func() bool { return ok.Load() > 500 })
			tc.fail(t, ep, s)
			n := ok.Load()
			waitFor(t, "load after the failure", func() bool { return ok.Load() > n+500 })
			if len(s) == 3 && tc.idempotent != nil {
				waitFor(t, "3 instances again", func() bool { return len(ready(b)) == 3 })
				n = ok.Load()
				waitFor(t, "load on 3", func() bool { return ok.Load() > n+500 })
			}
			close(stopCh)
			wg.Wait()
			st := b.Stats()
			t.Logf("%d calls, %d failed, %d retries, %d reroutes", ok.Load()+failed.Load(), failed.Load(), st.Retries, st.Reroutes)
			if failed.Load() != 0 {
				t.Fatalf("%d failed calls; last: %v", failed.Load(), lastErr.Load())
			}
		})
	}
}

// A lost lease (revoked here, as an expiry while etcd was out of reach
// would) is granted again and the keys put back.
func TestRegistrationAfterLeaseLost(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	s := startServer(t, ep, Config{TTL: 2 * time.Second})
	key := "/teleport/calc/" + s.addr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lease int64
	waitFor(t, "the key", func() bool {
		kv, err := cli.Get(ctx, key)
		if err != nil || len(kv.Kvs) != 1 {
			return false
		}
		lease = kv.Kvs[0].Lease
		return true
	})
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the key under a new lease", func() bool {
		kv, err := cli.Get(ctx, key)
		return err == nil && len(kv.Kvs) == 1 && kv.Kvs[0].Lease != lease
	})
}

// A peer serving on an unspecified address publishes what Advertise says.
func TestRegistrationAdvertise(t *testing.T) {
	ep := startEtcd(t)
	cli := newClient(t, ep)
	reg := NewRegistry(newClient(t, ep), Config{Service: "calc", Advertise: func(a net.Addr) string {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(a.(*net.TCPAddr).Port))
	}})
	srv := tp.NewPeer(&tp.PeerConfig{ListenAddrs: []string{"0.0.0.0:0"}}, reg)
	served := make(chan error, 1)
	go func() { served <- srv.Listen() }()
	defer func() {
		srv.Close()
		<-served
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, "the advertised key", func() bool {
		addrs := srv.Addrs()
		if len(addrs) != 1 {
			return false
		}
		kv, err := cli.Get(ctx, "/teleport/calc/127.0.0.1:"+fmt.Sprint(addrs[0].(*net.TCPAddr).Port))
		return err == nil && len(kv.Kvs) == 1
	})
}

// With etcd gone, the balancer keeps the instances it knows and the calls
// go on.
func TestEtcdDownKeepsInstances(t *testing.T) {
	es, err := embedded.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			es.Close()
		}
	}()
	// Short requests: the registry's revoke at the end fails, etcd is gone.
	s := startServer(t, es.Endpoint(), Config{Timeout: 200 * time.Millisecond})
	b := newBalancer(t, es.Endpoint(), tp.BalancerConfig{})
	waitFor(t, "the instance", func() bool { return ready(b)[s.addr] })
	es.Close()
	stopped = true
	for i := range 100 {
		if rerr := b.Pull("/node/name", nil, new(string)).Rerror(); rerr != nil {
			t.Fatalf("pull %d with etcd down: %v", i, rerr)
		}
	}
}
