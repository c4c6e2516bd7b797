package tp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// BalancerConfig configures a Balancer. The zero value works: least
// pending, no idempotent route, the default retry budget and backoffs.
type BalancerConfig struct {
	// Service is the name the Resolver watches.
	Service string
	// Policy picks the instance of each call: LeastPending (the zero
	// value), RoundRobin or ConsistentHash.
	Policy BalancerPolicy
	// HashKey returns the key of a call for ConsistentHash, given the
	// pull or push as its settings built it. nil: the key set with
	// WithHashKey. HashMeta(k) hashes on the metadata value of k. A call
	// with an empty key is picked by LeastPending.
	HashKey func(out *socket.Packet) string
	// Idempotent lists the routes whose pulls and pushes may be sent again
	// after they may have run: running one twice, or once in part and
	// once in full, must leave the same state as running it once. An
	// entry ending in "/" is a prefix ("/" makes every route idempotent).
	// Empty: none.
	Idempotent []string
	// MaxAttempts bounds the times one call is sent to instances (a call
	// that fails before it was written is not counted: it reached no
	// instance). 0: 3; 1: never sent twice.
	MaxAttempts int
	// RetryRatio is the retries earned by each call, into a budget that
	// every retry after a send spends one of: 0: 0.2, so a failing
	// cluster gets at most 20% more calls; negative: none earned.
	RetryRatio float64
	// RetryMinPerSecond is the retries earned each second whatever the
	// traffic, so that a quiet client can still retry. 0: 10; negative:
	// none. The budget holds at most 10 seconds of it, or 10 retries,
	// whichever is more, and starts full.
	RetryMinPerSecond float64
	// WaitReady is how long a call waits for an instance when none is
	// ready (at start-up, or while every instance is down), within the
	// call's own context. 0: 5 s; negative: not at all.
	WaitReady time.Duration
	// TryTimeout bounds each try of a pull whose context has no earlier
	// deadline, so that an instance that accepts connections but never
	// answers cannot hold a call made without a context forever: the try
	// ends with CodeHandleTimeout (sent again elsewhere only when its
	// route is idempotent). 0: DefaultTryTimeout; negative: none.
	TryTimeout time.Duration
	// EjectAfter is how many tries in a row an instance must fail by not
	// answering in time or by losing its connection after the call was
	// written, before it is ejected: it gets no calls (unless no other
	// instance can take them) until a probe, a pull of /_tp/probe sent
	// every ejection period, gets any answer from it (a teleport peer
	// answers it 404). The period starts at EjectMin and doubles, up to
	// EjectMax, while the probes go unanswered. 0: 5; negative: never.
	EjectAfter int
	// EjectSilence ejects an instance sooner, before the tries time out:
	// one that has calls in flight and has answered none of them for this
	// long, while another instance answered within it (a frozen process
	// whose kernel still holds its connections). 0: 1 s; negative: never.
	EjectSilence time.Duration
	// EjectMin and EjectMax bound the ejection period. 0: 1 s and 30 s.
	EjectMin, EjectMax time.Duration
	// ProbeMinBackoff and ProbeMaxBackoff space the redials of an
	// instance that could not be dialed or was lost: the first after
	// ProbeMinBackoff, each next one twice as long up to ProbeMaxBackoff,
	// with ±20% jitter. 0: 100 ms and 5 s.
	ProbeMinBackoff, ProbeMaxBackoff time.Duration
}

// BalancerPolicy chooses the instance of a call.
type BalancerPolicy uint8

const (
	// LeastPending picks the instance with the fewest calls of this
	// balancer in flight relative to its weight; ties go round robin.
	LeastPending BalancerPolicy = iota
	// RoundRobin gives the instances calls in turn, each as often as its
	// weight (smooth weighted round robin).
	RoundRobin
	// ConsistentHash picks by the call's hash key on a ring of the
	// instances (100 points per unit of weight): calls with one key go to
	// one instance while it is up, and an instance that leaves or joins
	// moves only the keys it had or takes.
	ConsistentHash
)

// String returns the policy's name.
func (p BalancerPolicy) String() string {
	switch p {
	case LeastPending:
		return "least-pending"
	case RoundRobin:
		return "round-robin"
	case ConsistentHash:
		return "consistent-hash"
	}
	return fmt.Sprintf("BalancerPolicy(%d)", uint8(p))
}

// Defaults of BalancerConfig.
const (
	DefaultBalancerMaxAttempts = 3
	DefaultRetryRatio          = 0.2
	DefaultRetryMinPerSecond   = 10
	DefaultWaitReady           = 5 * time.Second
	DefaultProbeMinBackoff     = 100 * time.Millisecond
	DefaultProbeMaxBackoff     = 5 * time.Second
	DefaultTryTimeout          = 10 * time.Second
	DefaultEjectAfter          = 5
	DefaultEjectSilence        = time.Second
	DefaultEjectMin            = time.Second
	DefaultEjectMax            = 30 * time.Second
)

// check fills in the defaults and names the first invalid field.
func (c *BalancerConfig) check() error {
	if c.Policy > ConsistentHash {
		return fmt.Errorf("BalancerConfig.Policy: unknown policy %d", c.Policy)
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("BalancerConfig.MaxAttempts: %d is negative", c.MaxAttempts)
	}
	if c.ProbeMinBackoff < 0 || c.ProbeMaxBackoff < 0 {
		return fmt.Errorf("BalancerConfig.ProbeMinBackoff/ProbeMaxBackoff: negative")
	}
	if c.EjectMin < 0 || c.EjectMax < 0 {
		return fmt.Errorf("BalancerConfig.EjectMin/EjectMax: negative")
	}
	for _, r := range c.Idempotent {
		if r == "" || r[0] != '/' {
			return fmt.Errorf("BalancerConfig.Idempotent: route %q does not start with /", r)
		}
	}
	orDefault(&c.MaxAttempts, DefaultBalancerMaxAttempts)
	orDefault(&c.RetryRatio, DefaultRetryRatio)
	orDefault(&c.RetryMinPerSecond, DefaultRetryMinPerSecond)
	orDefault(&c.WaitReady, DefaultWaitReady)
	orDefault(&c.ProbeMinBackoff, DefaultProbeMinBackoff)
	orDefault(&c.ProbeMaxBackoff, DefaultProbeMaxBackoff)
	orDefault(&c.TryTimeout, DefaultTryTimeout)
	orDefault(&c.EjectAfter, DefaultEjectAfter)
	orDefault(&c.EjectSilence, DefaultEjectSilence)
	orDefault(&c.EjectMin, DefaultEjectMin)
	orDefault(&c.EjectMax, DefaultEjectMax)
	if c.EjectMax < c.EjectMin {
		return fmt.Errorf("BalancerConfig.EjectMax: %v is below EjectMin %v", c.EjectMax, c.EjectMin)
	}
	if c.ProbeMaxBackoff < c.ProbeMinBackoff {
		return fmt.Errorf("BalancerConfig.ProbeMaxBackoff: %v is below ProbeMinBackoff %v", c.ProbeMaxBackoff, c.ProbeMinBackoff)
	}
	return nil
}

// Balancer spreads calls over the instances of one service: it keeps a
// session to every live instance the Resolver reports, follows its joins
// and leaves, and picks an instance per call by its Policy. It offers the
// calls of a Session (Pull, AsyncPull, Push); a call that fails on one
// instance is sent to another when that is safe (see Pull). Its methods
// are safe for concurrent use.
type Balancer struct {
	peer     *Peer
	ownPeer  bool
	resolver Resolver
	cfg      BalancerConfig
	budget   retryBudget

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	// wg counts the watch goroutine and the endpoints' goroutines.
	wg sync.WaitGroup

	// picks is what calls choose from; rebuilt (under mu) at each change.
	picks atomic.Pointer[pickSet]
	// turn spreads ties and drives RoundRobin.
	turn atomic.Uint64

	calls, failed, retries, reroutes, denied atomic.Uint64

	// mu guards the fields below.
	mu        sync.Mutex
	endpoints map[string]*endpoint
	changeCh  chan struct{} // closed and replaced whenever picks changes
	closed    bool
}

// NewBalancer returns a balancer of the instances resolver reports for
// cfg.Service (nil cfg: the zero BalancerConfig), dialing them with peer
// (nil: a peer of its own with the zero PeerConfig, closed by Close). The
// sessions it dials are its own: it closes them when their instance
// leaves and at Close. A nil resolver or an invalid field panics, naming
// it.
func NewBalancer(peer *Peer, resolver Resolver, cfg *BalancerConfig) *Balancer {
	if resolver == nil {
		panic("tp: NewBalancer: nil Resolver")
	}
	b := &Balancer{peer: peer, resolver: resolver, endpoints: map[string]*endpoint{}, changeCh: make(chan struct{})}
	if cfg != nil {
		b.cfg = *cfg
		b.cfg.Idempotent = append([]string(nil), cfg.Idempotent...)
	}
	if err := b.cfg.check(); err != nil {
		panic("tp: NewBalancer: " + err.Error())
	}
	if b.peer == nil {
		b.peer, b.ownPeer = NewPeer(nil), true
	}
	b.budget.init(b.cfg.RetryRatio, b.cfg.RetryMinPerSecond)
	b.picks.Store(new(pickSet))
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(1)
	go b.watch()
	if b.cfg.TryTimeout > 0 || b.cfg.EjectSilence > 0 && b.cfg.EjectAfter > 0 {
		b.wg.Add(1)
		go b.sweep()
	}
	return b
}

// Peer returns the peer the balancer dials with.
func (b *Balancer) Peer() *Peer { return b.peer }

// watch runs the resolver until Close, calling it again after a pause
// when it gives up.
func (b *Balancer) watch() {
	defer b.wg.Done()
	backoff := b.cfg.ProbeMinBackoff
	for {
		err := b.resolver.Watch(b.ctx, b.cfg.Service, b.update)
		if b.ctx.Err() != nil {
			return
		}
		Warnf("tp: balancer %q: resolver stopped: %v; watching again in %v", b.cfg.Service, err, backoff)
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, b.cfg.ProbeMaxBackoff)
	}
}

// update applies the resolver's list: new instances are dialed, gone ones
// drained and closed, changed ones updated.
func (b *Balancer) update(list []Instance) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	seen := make(map[string]bool, len(list))
	for i := range list {
		in := &list[i]
		if in.Addr == "" || seen[in.Addr] {
			continue
		}
		seen[in.Addr] = true
		if e := b.endpoints[in.Addr]; e != nil {
			e.info.Store(newEndpointInfo(in))
			continue
		}
		e := newEndpoint(b, in)
		b.endpoints[in.Addr] = e
		Debugf("tp: balancer %q: instance %s joined", b.cfg.Service, in)
		b.wg.Add(1)
		go e.run()
	}
	for addr, e := range b.endpoints {
		if !seen[addr] {
			Debugf("tp: balancer %q: instance %s left", b.cfg.Service, addr)
			delete(b.endpoints, addr)
			e.removed.Store(true)
			e.stop()
		}
	}
	b.rebuildLocked()
}

// setSession sets e's session (nil: none) and recomputes picks in one
// step under b.mu, so that Stats never shows an instance ready that calls
// cannot be sent to yet.
func (b *Balancer) setSession(e *endpoint, s *session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.sess.Store(s)
	b.rebuildLocked()
}

// rebuildLocked recomputes picks after the endpoints or their sessions
// changed; b.mu is held.
func (b *Balancer) rebuildLocked() {
	var eps []*endpoint
	for _, e := range b.endpoints {
		if e.sess.Load() != nil && !e.removed.Load() {
			eps = append(eps, e)
		}
	}
	b.picks.Store(newPickSet(eps, b.cfg.Policy))
	close(b.changeCh)
	b.changeCh = make(chan struct{})
}

// changed returns a channel closed at the next change of picks, and
// whether the balancer is closed.
func (b *Balancer) changed() (<-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changeCh, b.closed
}

// Close stops following the resolver and closes every session the
// balancer dialed (calls in flight end with CodeConnClosed; later ones
// fail at once), and the balancer's own peer if it made one.
func (b *Balancer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, e := range b.endpoints {
		e.stop()
	}
	b.endpoints = map[string]*endpoint{}
	b.picks.Store(new(pickSet))
	close(b.changeCh)
	b.changeCh = make(chan struct{})
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	if b.ownPeer {
		return b.peer.Close()
	}
	return nil
}

// InstanceStats describes one instance of a Balancer.
type InstanceStats struct {
	Instance
	// Ready is true while the instance has a session calls may go to.
	Ready bool
	// Pending is the number of the balancer's calls in flight on it.
	Pending int64
	// Calls counts the calls it answered (with a reply or an error
	// reply); Lost counts the times it could not be dialed or its
	// session broke without a goaway.
	Calls, Lost uint64
	// Ejected is true while the instance is ejected for failing tries in
	// a row (see BalancerConfig.EjectAfter); Ejections counts the times
	// it was.
	Ejected   bool
	Ejections uint64
}

// BalancerStats are a Balancer's counters since it was made.
type BalancerStats struct {
	// Calls counts the Pull, AsyncPull and Push calls.
	Calls uint64
	// Failed counts the calls that ended with CodeConnClosed,
	// CodeWriteFailed, CodeDialFailed or CodeServiceUnavailable, the
	// failures failover is there to hide.
	Failed uint64
	// Retries counts the sends after a send that failed; Reroutes the
	// sends after a try that failed before it was written.
	Retries, Reroutes uint64
	// Denied counts the retries the budget or MaxAttempts refused.
	Denied uint64
	// Instances lists the current instances, sorted by address.
	Instances []InstanceStats
}

// Stats returns the balancer's counters and instances.
func (b *Balancer) Stats() BalancerStats {
	st := BalancerStats{
		Calls: b.calls.Load(), Failed: b.failed.Load(),
		Retries: b.retries.Load(), Reroutes: b.reroutes.Load(), Denied: b.denied.Load(),
	}
	b.mu.Lock()
	for _, e := range b.endpoints {
		st.Instances = append(st.Instances, e.stats())
	}
	b.mu.Unlock()
	slices.SortFunc(st.Instances, func(x, y InstanceStats) int {
		switch {
		case x.Addr < y.Addr:
			return -1
		case x.Addr > y.Addr:
			return 1
		}
		return 0
	})
	return st
}

// endpoint is the balancer's side of one instance: its session, redialed
// with backoff while the instance is listed.
type endpoint struct {
	b    *Balancer
	addr string
	info atomic.Pointer[endpointInfo] // replaced when the resolver updates it

	// sess is the session calls may go to; nil while there is none.
	sess    atomic.Pointer[session]
	pending atomic.Int64  // the balancer's calls in flight on it
	calls   atomic.Uint64 // calls answered
	lost    atomic.Uint64 // dial failures and broken sessions
	removed atomic.Bool   // the resolver no longer lists it

	// failStreak counts the tries in a row that failed for want of an
	// answer; ejected is set while the instance is ejected for it, and
	// ejections counts the times it was (see outlier.go).
	failStreak atomic.Int32
	ejected    atomic.Bool
	ejections  atomic.Uint64
	// lastAnswer is when a pull on it last got an answer, busySince when
	// its pending calls last went from none to one (monoNow), for
	// EjectSilence.
	lastAnswer atomic.Int64
	busySince  atomic.Int64

	ctx    context.Context // ends when it is removed or the balancer closes
	stop   context.CancelFunc
	idleCh chan struct{} // signalled when pending drops to 0 once removed
}

// endpointInfo is what the resolver said of an instance, ready for picks.
type endpointInfo struct {
	inst   Instance
	weight int
	routes map[string]struct{} // nil: every route
}

func newEndpointInfo(in *Instance) *endpointInfo {
	info := &endpointInfo{inst: *in, weight: in.weight()}
	info.inst.Routes = append([]string(nil), in.Routes...)
	if len(in.Routes) > 0 {
		info.routes = make(map[string]struct{}, len(in.Routes))
		for _, r := range in.Routes {
			info.routes[r] = struct{}{}
		}
	}
	return info
}

func newEndpoint(b *Balancer, in *Instance) *endpoint {
	e := &endpoint{b: b, addr: in.Addr, idleCh: make(chan struct{}, 1)}
	e.info.Store(newEndpointInfo(in))
	e.ctx, e.stop = context.WithCancel(b.ctx)
	return e
}

func (e *endpoint) stats() InstanceStats {
	info := e.info.Load()
	s := e.sess.Load()
	return InstanceStats{
		Instance:  info.inst,
		Ready:     s != nil && s.IsOk(),
		Pending:   e.pending.Load(),
		Calls:     e.calls.Load(),
		Lost:      e.lost.Load(),
		Ejected:   e.ejected.Load(),
		Ejections: e.ejections.Load(),
	}
}

// serves reports whether the instance serves the route path.
func (e *endpoint) serves(path string) bool {
	routes := e.info.Load().routes
	if routes == nil {
		return true
	}
	_, ok := routes[path]
	return ok
}

// release ends a call's use of the endpoint.
func (e *endpoint) release() {
	if e.pending.Add(-1) == 0 && e.removed.Load() {
		select {
		case e.idleCh <- struct{}{}:
		default:
		}
	}
}

// run keeps a session to the instance until it is removed or the balancer
// closes: it dials, waits for the session to end, and dials again after a
// backoff that grows while the instance keeps failing.
func (e *endpoint) run() {
	b := e.b
	defer b.wg.Done()
	var backoff time.Duration
	for {
		if backoff > 0 {
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(jitter(backoff)):
			}
		}
		sess, rerr := b.peer.DialContext(e.ctx, e.addr)
		if rerr != nil {
			if e.ctx.Err() != nil {
				return
			}
			e.lost.Add(1)
			backoff = e.nextBackoff(backoff)
			Debugf("tp: balancer %q: instance %s: %v; probing again in about %v", b.cfg.Service, e.addr, rerr, backoff)
			continue
		}
		s := sess.(*session)
		b.setSession(e, s)
		Debugf("tp: balancer %q: instance %s is ready", b.cfg.Service, e.addr)
		select {
		case <-s.closedCh():
			b.setSession(e, nil)
			if s.draining.Load() {
				// It said goodbye (a goaway) and its calls
				// finished: it may come back at once (a reboot).
				backoff = b.cfg.ProbeMinBackoff
				Debugf("tp: balancer %q: instance %s went away", b.cfg.Service, e.addr)
			} else {
				e.lost.Add(1)
				backoff = e.nextBackoff(backoff)
				Noticef("tp: balancer %q: lost instance %s; probing again in about %v", b.cfg.Service, e.addr, backoff)
			}
		case <-e.ctx.Done():
			if b.isClosed() {
				e.sess.Store(nil)
			} else {
				b.setSession(e, nil)
				e.drain(s)
			}
			_ = s.Close()
			return
		}
	}
}

// drain waits for the calls in flight on a removed instance to end, or
// for its session to end, or for the balancer to close.
func (e *endpoint) drain(s *session) {
	for e.pending.Load() > 0 {
		select {
		case <-e.idleCh:
		case <-s.closedCh():
			return
		case <-e.b.ctx.Done():
			return
		}
	}
}

func (b *Balancer) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// nextBackoff doubles the backoff from ProbeMinBackoff to ProbeMaxBackoff.
func (e *endpoint) nextBackoff(d time.Duration) time.Duration {
	if d <= 0 {
		return e.b.cfg.ProbeMinBackoff
	}
	return min(2*d, e.b.cfg.ProbeMaxBackoff)
}

// jitter spreads d by ±20%, so that clients probing one instance do not
// all arrive at once.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
