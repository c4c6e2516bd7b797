package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"sync"
	"time"

	tp "github.com/teleport-go/teleport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "/teleport"

// Defaults of Config.
const (
	DefaultTTL     = 10 * time.Second
	DefaultTimeout = 3 * time.Second
)

// Config configures a Registry.
type Config struct {
	// Service is the name the peer serves under; required.
	Service string
	// Prefix is the root of the keys: an instance is the key
	// <Prefix>/<Service>/<address>. "": DefaultPrefix ("/teleport").
	Prefix string
	// TTL is the lease of the keys, kept alive while the peer runs: after
	// a crash the keys go away within TTL. 0: 10 s. etcd rounds it up to
	// whole seconds (and its own minimum, about 1.5 election timeouts).
	TTL time.Duration
	// Weight, Version and Meta are published with each address (see
	// tp.Instance); the routes the peer serves are added from its router.
	Weight  int
	Version string
	Meta    map[string]string
	// Advertise turns a served address into the one clients dial. nil: the
	// address as served, which must then not be an unspecified IP
	// (0.0.0.0 or ::): such an address is skipped, with an error logged.
	Advertise func(net.Addr) string
	// Timeout bounds each etcd request of the registry. 0: 3 s.
	Timeout time.Duration
}

// value is what a key holds: JSON of the instance.
type value struct {
	Addr    string            `json:"addr"`
	Weight  int               `json:"weight,omitempty"`
	Version string            `json:"version,omitempty"`
	Routes  []string          `json:"routes,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
}

// Registry is a peer plugin that registers every address the peer serves
// in etcd, under a lease it keeps alive, and removes them when the peer
// closes, before the goaways tell the clients to leave. One Registry
// serves one peer; give it to NewPeer, so that it sees every route
// registered (PostReg): one added later publishes no routes, which clients
// take as every route.
type Registry struct {
	client *clientv3.Client
	cfg    Config

	ctx    context.Context // ends when the peer closes
	cancel context.CancelFunc
	pokeCh chan struct{} // wakes the keeper: an address or route was added
	doneCh chan struct{} // closed when the keeper returns

	// mu guards the fields below.
	mu       sync.Mutex
	addrs    []string // advertised addresses, in the order served
	routes   []string
	anyRoute bool // an unknown handler serves every route
	started  bool // the keeper runs
	lease    clientv3.LeaseID
	gen      int            // counts the changes of the published value
	put      map[string]int // address -> the gen put under lease
}

var (
	_ tp.PostRegPlugin    = (*Registry)(nil)
	_ tp.PostListenPlugin = (*Registry)(nil)
	_ tp.PreClosePlugin   = (*Registry)(nil)
)

// NewRegistry returns a registry writing to etcd through client (which the
// caller closes, after the peer). An empty Service panics.
func NewRegistry(client *clientv3.Client, cfg Config) *Registry {
	if cfg.Service == "" {
		panic("etcd: NewRegistry: Config.Service is empty")
	}
	if client == nil {
		panic("etcd: NewRegistry: nil client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	r := &Registry{client: client, cfg: cfg, pokeCh: make(chan struct{}, 1), doneCh: make(chan struct{}), put: map[string]int{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// Name returns "etcd-registry".
func (r *Registry) Name() string { return "etcd-registry" }

// ServiceKey returns the prefix of the keys of service's instances.
func ServiceKey(prefix, service string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return path.Join("/", prefix, service) + "/"
}

// PostReg records a route the peer serves.
func (r *Registry) PostReg(h *tp.Handler) *tp.Rerror {
	r.mu.Lock()
	if h.IsUnknown() {
		r.anyRoute = true
	} else {
		r.routes = append(r.routes, h.Name())
	}
	// Routes registered once the peer is listed are published too.
	r.gen++
	r.mu.Unlock()
	r.poke()
	return nil
}

// PostListen registers addr, on the keeper's goroutine: the peer does not
// wait for etcd.
func (r *Registry) PostListen(_ *tp.Peer, addr net.Addr) *tp.Rerror {
	a := addr.String()
	if r.cfg.Advertise != nil {
		a = r.cfg.Advertise(addr)
	} else if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		tp.Errorf("etcd registry: %s serves on %s, an unspecified address clients cannot dial: set Config.Advertise", r.cfg.Service, addr)
		return nil
	}
	r.mu.Lock()
	r.addrs = append(r.addrs, a)
	start := !r.started
	r.started = true
	r.mu.Unlock()
	if start {
		go r.keep()
	}
	r.poke()
	return nil
}

func (r *Registry) poke() {
	select {
	case r.pokeCh <- struct{}{}:
	default:
	}
}

// PreClose removes the peer's keys (by revoking their lease) before Close
// sends the goaways, so that clients following etcd stop picking the peer
// first. A crashed peer runs no PreClose: its lease expires.
func (r *Registry) PreClose(*tp.Peer) *tp.Rerror {
	r.cancel()
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return nil
	}
	<-r.doneCh
	r.mu.Lock()
	lease := r.lease
	r.mu.Unlock()
	if lease == clientv3.NoLease {
		return nil
	}
	if r.client.Ctx().Err() != nil {
		// The client was closed first (a revoke would retry until its
		// timeout): the keys expire within the TTL.
		tp.Warnf("etcd registry: %s: the etcd client is closed; the keys expire within %v", r.cfg.Service, r.cfg.TTL)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if _, err := r.client.Revoke(ctx, lease); err != nil {
		tp.Warnf("etcd registry: %s: revoke lease %x: %v (the keys expire within %v)", r.cfg.Service, lease, err, r.cfg.TTL)
		return nil
	}
	tp.Debugf("etcd registry: %s: deregistered", r.cfg.Service)
	return nil
}

// keep grants the lease, puts the keys under it, keeps it alive, and
// starts again after a backoff when the lease is lost (etcd unreachable
// for longer than the TTL), until the peer closes.
func (r *Registry) keep() {
	defer close(r.doneCh)
	backoff := 100 * time.Millisecond
	for r.ctx.Err() == nil {
		err := r.session()
		if r.ctx.Err() != nil {
			return
		}
		tp.Warnf("etcd registry: %s: %v; registering again in %v", r.cfg.Service, err, backoff)
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.TTL)
	}
}

// session is one lease's life: grant, put, keep alive until lost.
func (r *Registry) session() error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	grant, err := r.client.Grant(ctx, int64((r.cfg.TTL+time.Second-1)/time.Second))
	cancel()
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	r.mu.Lock()
	r.lease = grant.ID
	clear(r.put)
	r.mu.Unlock()
	ka, err := r.client.KeepAlive(r.ctx, grant.ID)
	if err != nil {
		return fmt.Errorf("keep lease alive: %w", err)
	}
	if err := r.putAll(); err != nil {
		return err
	}
	for {
		select {
		case _, ok := <-ka:
			if !ok {
				return errors.New("lease lost")
			}
		case <-r.pokeCh:
			if err := r.putAll(); err != nil {
				return err
			}
		case <-r.ctx.Done():
			return nil
		}
	}
}

// putAll puts the keys not yet put under the current lease.
func (r *Registry) putAll() error {
	r.mu.Lock()
	lease, gen := r.lease, r.gen
	v := value{Weight: r.cfg.Weight, Version: r.cfg.Version, Meta: r.cfg.Meta}
	if !r.anyRoute {
		v.Routes = slices.Clone(r.routes)
		slices.Sort(v.Routes)
	}
	var todo []string
	for _, a := range r.addrs {
		if g, ok := r.put[a]; !ok || g != gen {
			todo = append(todo, a)
		}
	}
	r.mu.Unlock()
	for _, a := range todo {
		v.Addr = a
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		key := ServiceKey(r.cfg.Prefix, r.cfg.Service) + a
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
		_, err = r.client.Put(ctx, key, string(b), clientv3.WithLease(lease))
		cancel()
		if err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		tp.Debugf("etcd registry: registered %s", key)
		r.mu.Lock()
		if r.lease == lease {
			r.put[a] = gen
		}
		r.mu.Unlock()
	}
	return nil
}
