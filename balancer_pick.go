package tp

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/henrylee2cn/goutil"
	"github.com/teleport-go/teleport/socket"
)

// pickSet is the instances calls may go to, as of the last change, with
// what the policy precomputed over them. It is never modified once
// published.
type pickSet struct {
	eps []*endpoint // sorted by address
	// wrr is the smooth weighted round-robin order over eps (RoundRobin).
	wrr []*endpoint
	// ring is the hash ring (ConsistentHash), sorted by hash.
	ring []ringPoint
}

type ringPoint struct {
	hash uint64
	e    *endpoint
}

// Ring and round-robin sizes: ringPointsPerWeight points per unit of
// weight; weights above maxPickWeight count as maxPickWeight.
const (
	ringPointsPerWeight = 100
	maxPickWeight       = 100
)

func newPickSet(eps []*endpoint, policy BalancerPolicy) *pickSet {
	slices.SortFunc(eps, func(x, y *endpoint) int { return strings.Compare(x.addr, y.addr) })
	ps := &pickSet{eps: eps}
	switch policy {
	case RoundRobin:
		ps.wrr = smoothWRR(eps)
	case ConsistentHash:
		for _, e := range eps {
			w := min(e.info.Load().weight, maxPickWeight)
			for i := range w * ringPointsPerWeight {
				ps.ring = append(ps.ring, ringPoint{hash: hashString(e.addr + "#" + strconv.Itoa(i)), e: e})
			}
		}
		slices.SortFunc(ps.ring, func(x, y ringPoint) int {
			switch {
			case x.hash < y.hash:
				return -1
			case x.hash > y.hash:
				return 1
			}
			return 0
		})
	}
	return ps
}

// ringStart returns the index of the first ring point at or after key's
// hash (wrapping to 0).
func (ps *pickSet) ringStart(key string) int {
	h := hashString(key)
	at, _ := slices.BinarySearchFunc(ps.ring, h, func(p ringPoint, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	return at % len(ps.ring)
}

// smoothWRR returns one cycle of smooth weighted round robin (as nginx
// does it): each instance appears weight times, spread out, not in runs.
func smoothWRR(eps []*endpoint) []*endpoint {
	weights := make([]int, len(eps))
	current := make([]int, len(eps))
	total := 0
	for i, e := range eps {
		weights[i] = min(e.info.Load().weight, maxPickWeight)
		total += weights[i]
	}
	order := make([]*endpoint, 0, total)
	for range total {
		best := 0
		for i := range eps {
			current[i] += weights[i]
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		order = append(order, eps[best])
	}
	return order
}

// hashString is FNV-1a with a final mix, so that near-equal strings (the
// ring points of one address) land far apart.
func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// callInfo is what the balancer knows of one call.
type callInfo struct {
	uri        string
	path       string
	idempotent bool
	setting    []socket.PacketSetting
	// ctx and key are read from the settings once needed.
	resolved bool
	ctx      context.Context
	key      string
	// tried lists the sessions this call already failed on.
	tried []*session
}

func (b *Balancer) newCall(uri string, setting []socket.PacketSetting) callInfo {
	c := callInfo{uri: uri, path: uriPath(uri), setting: setting}
	c.idempotent = b.isIdempotent(c.path)
	if b.cfg.Policy == ConsistentHash {
		c.resolve(b.cfg.HashKey)
	}
	return c
}

// resolve applies the call's settings to a scratch packet to read its
// context and hash key.
func (c *callInfo) resolve(hashKey func(*socket.Packet) string) {
	if c.resolved {
		return
	}
	c.resolved = true
	p := socket.GetPacket()
	p.SetUri(c.uri)
	for _, set := range c.setting {
		if set != nil {
			set(p)
		}
	}
	c.ctx = p.Context()
	if hashKey != nil {
		c.key = hashKey(p)
	} else if k, ok := c.ctx.Value(hashKeyCtxKey{}).(string); ok {
		c.key = k
	}
	socket.PutPacket(p)
}

// isIdempotent reports whether the route path is listed in Idempotent.
func (b *Balancer) isIdempotent(path string) bool {
	for _, r := range b.cfg.Idempotent {
		if r == path || strings.HasSuffix(r, "/") && strings.HasPrefix(path, r) {
			return true
		}
	}
	return false
}

// usable reports whether a call may go to e now, and its session; an
// ejected instance only when withEjected.
func (c *callInfo) usable(e *endpoint, strictRoutes, withEjected bool) *session {
	s := e.sess.Load()
	if s == nil || !s.IsOk() || slices.Contains(c.tried, s) || !withEjected && e.ejected.Load() {
		return nil
	}
	if strictRoutes && !e.serves(c.path) {
		return nil
	}
	return s
}

// pickFrom chooses an endpoint of ps for c by the policy, or nil.
func (b *Balancer) pickFrom(ps *pickSet, c *callInfo, turn uint64, strictRoutes, withEjected bool) (*endpoint, *session) {
	n := len(ps.eps)
	if n == 0 {
		return nil, nil
	}
	switch {
	case b.cfg.Policy == RoundRobin:
		start := int(turn % uint64(len(ps.wrr)))
		for i := range ps.wrr {
			e := ps.wrr[(start+i)%len(ps.wrr)]
			if s := c.usable(e, strictRoutes, withEjected); s != nil {
				return e, s
			}
		}
		return nil, nil
	case b.cfg.Policy == ConsistentHash && c.key != "":
		at := ps.ringStart(c.key)
		for i := range ps.ring {
			e := ps.ring[(at+i)%len(ps.ring)].e
			if s := c.usable(e, strictRoutes, withEjected); s != nil {
				return e, s
			}
		}
		return nil, nil
	}
	// LeastPending: the lowest pending/weight, compared as
	// pending_a*weight_b < pending_b*weight_a; ties from a rotating start.
	var (
		best        *endpoint
		bestSess    *session
		bestPending int64
		bestWeight  int64
	)
	start := int(turn % uint64(n))
	for i := range n {
		e := ps.eps[(start+i)%n]
		s := c.usable(e, strictRoutes, withEjected)
		if s == nil {
			continue
		}
		p, w := e.pending.Load(), int64(e.info.Load().weight)
		if best == nil || p*bestWeight < bestPending*w {
			best, bestSess, bestPending, bestWeight = e, s, p, w
		}
	}
	return best, bestSess
}

// pick chooses the endpoint of the next try of c, waiting up to WaitReady
// (and within the call's context) when no instance is ready.
func (b *Balancer) pick(c *callInfo) (*endpoint, *session, *Rerror) {
	if e, s := b.pickNow(c); e != nil {
		return e, s, nil
	}
	if b.cfg.WaitReady < 0 {
		return nil, nil, b.noInstance(c)
	}
	c.resolve(b.cfg.HashKey)
	ctx, cancel := context.WithTimeout(c.ctx, b.cfg.WaitReady)
	defer cancel()
	for {
		ch, closed := b.changed()
		if closed {
			return nil, nil, rerrConnClosed.withDetail("balancer is closed")
		}
		if e, s := b.pickNow(c); e != nil {
			return e, s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if c.ctx.Err() != nil {
				return nil, nil, rerrHandleTimeout.withDetail(fmt.Sprintf("pull %s: %v", c.uri, c.ctx.Err()))
			}
			return nil, nil, b.noInstance(c)
		}
	}
}

// pickNow picks among the instances serving the route, or else among
// all (which then answer CodeNotFound); ejected instances only when no
// other can take the call.
func (b *Balancer) pickNow(c *callInfo) (*endpoint, *session) {
	ps := b.picks.Load()
	turn := b.turn.Add(1)
	for _, withEjected := range [2]bool{false, true} {
		for _, strict := range [2]bool{true, false} {
			if e, s := b.pickFrom(ps, c, turn, strict, withEjected); e != nil {
				return e, s
			}
		}
	}
	return nil, nil
}

func (b *Balancer) noInstance(c *callInfo) *Rerror {
	return rerrServiceUnavailable.withDetail(fmt.Sprintf("balancer %q: no instance ready for %s (tried %d)", b.cfg.Service, c.uri, len(c.tried)))
}

// hashKeyCtxKey keys the hash key in a pull's context.
type hashKeyCtxKey struct{}

// WithHashKey sets the key a ConsistentHash balancer picks the instance of
// a call by (when BalancerConfig.HashKey is nil), for example a user id
// kept in the calling session's Public(). It does not travel on the wire:
// it is a value of the packet's context, so it must come after any
// socket.WithContext among the settings.
func WithHashKey(key string) socket.PacketSetting {
	return func(p *socket.Packet) {
		socket.WithContext(context.WithValue(p.Context(), hashKeyCtxKey{}, key))(p)
	}
}

// WithHashPublic is WithHashKey with the value of key in the Public() of
// sess (a Session, PreSession or PostSession, or a handler's context): a
// server calling another service on behalf of its clients can send each
// client's calls to one instance by what it stored for the client there,
// such as the user id its auth plugin set. A missing key is no key.
func WithHashPublic(sess interface{ Public() goutil.Map }, key string) socket.PacketSetting {
	v, ok := sess.Public().Load(key)
	if !ok {
		return nil
	}
	return WithHashKey(fmt.Sprint(v))
}

// HashMeta returns a BalancerConfig.HashKey that hashes on the value of
// the metadata key metaKey of the call (set with socket.WithSetMeta).
func HashMeta(metaKey string) func(out *socket.Packet) string {
	return func(out *socket.Packet) string { return string(out.Meta().Peek(metaKey)) }
}
