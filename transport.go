package tp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
)

// DialFunc connects peer to addr for a transport other than the peer's
// Network, such as WebSocket. It runs for Dial and again for every redial
// and goaway move of the session, with ctx bounded by DefaultDialTimeout,
// and returns a connection ready for the peer's protocol: any TLS is the
// DialFunc's own business (the peer's TLS configuration is there for it to
// use, through peer.TLSConfig).
type DialFunc func(ctx context.Context, peer *Peer, addr string) (net.Conn, error)

// dialers maps URL schemes to the transports registered for them.
var dialers struct {
	// mu guards the field below.
	mu     sync.RWMutex
	scheme map[string]DialFunc
}

// RegDialer makes Dial and DialContext connect with dial to every address
// that starts with scheme followed by "://", such as "ws://host/path" for
// scheme "ws"; other addresses keep the peer's Network. A transport
// package calls it in its init function, as the websocket package does for
// "ws" and "wss". It panics on an empty scheme, a nil dial or a scheme
// registered twice: mistakes made at start-up.
func RegDialer(scheme string, dial DialFunc) {
	if scheme == "" || strings.Contains(scheme, "://") {
		panic(fmt.Sprintf("tp: RegDialer: invalid scheme %q", scheme))
	}
	if dial == nil {
		panic(fmt.Sprintf("tp: RegDialer: nil DialFunc for scheme %q", scheme))
	}
	dialers.mu.Lock()
	defer dialers.mu.Unlock()
	if _, dup := dialers.scheme[scheme]; dup {
		panic(fmt.Sprintf("tp: RegDialer: scheme %q registered twice", scheme))
	}
	if dialers.scheme == nil {
		dialers.scheme = map[string]DialFunc{}
	}
	dialers.scheme[scheme] = dial
}

// dialerFor returns the DialFunc registered for the scheme of addr, or nil
// when addr has no registered scheme.
func dialerFor(addr string) DialFunc {
	scheme, _, ok := strings.Cut(addr, "://")
	if !ok {
		return nil
	}
	dialers.mu.RLock()
	defer dialers.mu.RUnlock()
	return dialers.scheme[scheme]
}

// Accepting reports whether the peer would start a session on a new
// connection now: not once Close has begun, nor while it has as many
// sessions as PeerConfig.MaxSessions allows. Serve refuses such
// connections itself; a transport that hands the peer connections from
// elsewhere, such as the websocket package's handler, asks Accepting
// before it takes one.
func (p *Peer) Accepting() bool { return !p.closing.Load() && !p.full() }
