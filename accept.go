package tp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	pkgerrors "github.com/pkg/errors"
	"github.com/teleport-go/teleport/socket"
)

// Accepting a connection, in order:
//
//  1. Serve closes it at once while the peer holds MaxSessions sessions or
//     MaxHandshakes connections in their handshake: the cheapest refusal.
//  2. serveConn takes a handshake slot (refused past MaxHandshakes: Serve's
//     look was not atomic, and ServeConn has other callers) and arms the
//     handshake's watchdog, which closes the connection HandshakeTimeout
//     after the accept, whatever the handshake is doing.
//  3. The TLS handshake, then the PostAccept hooks (an auth plugin reads
//     its token there).
//  4. The session takes a session slot, in one step with the check of
//     MaxSessions, and its read loop starts; the handshake slot is freed.
//
// So connections that never finish their handshake (a silent TLS client, a
// client that never sends its token, an attacker reconnecting every
// HandshakeTimeout) hold handshake slots, never session slots: they cannot
// lock legitimate clients out of MaxSessions.

// Admitter is what a PreSession of an accepted connection offers a
// PostAccept plugin that answers the client itself (an auth plugin): Admit
// takes the session's slot of MaxSessions at once, so that the plugin can
// tell the client "full" (the *Rerror, CodeServiceUnavailable) rather than
// "in" followed by a closed connection. A session not admitted by a plugin
// is admitted when its PostAccept hooks are done. Admit on a dialed
// session, or a second time, does nothing.
type Admitter interface {
	Admit() *Rerror
}

var _ Admitter = (*session)(nil)

// Admit takes the session's slot of MaxSessions; see Admitter.
func (s *session) Admit() *Rerror {
	if s.dialAddr() != "" || s.started.Load() || s.admitted.Load() {
		return nil
	}
	limit := s.peer.cfg.MaxSessions
	if !s.peer.sessions.addBelow(s, limit) {
		return rerrServiceUnavailable.withDetail(fmt.Sprintf("%d sessions open, the most PeerConfig.MaxSessions allows", limit))
	}
	s.admitted.Store(true)
	return nil
}

// acquireHandshake takes a handshake slot; false when MaxHandshakes are
// taken.
func (p *Peer) acquireHandshake() bool {
	limit := int64(p.cfg.MaxHandshakes)
	for {
		n := p.handshakes.Load()
		if limit > 0 && n >= limit {
			return false
		}
		if p.handshakes.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// serveConn is ServeConn.
func (p *Peer) serveConn(conn net.Conn, protoFunc []socket.ProtoFunc) (Session, error) {
	if !p.acquireHandshake() {
		conn.Close()
		return nil, fmt.Errorf("tp: %d connections in their handshake, the most PeerConfig.MaxHandshakes allows", p.cfg.MaxHandshakes)
	}
	defer p.handshakes.Add(-1)
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(p.cfg.HandshakeTimeout, func() {
		timedOut.Store(true)
		conn.Close()
	})
	if err := p.tlsHandshake(conn); err != nil {
		watchdog.Stop()
		conn.Close()
		return nil, err
	}
	s := newSession(p, conn, protoFunc)
	rerr := runHooks("PostAccept", p.plugins.get().postAccept, PreSession(s), PostAcceptPlugin.PostAccept)
	if !watchdog.Stop() || timedOut.Load() {
		err := fmt.Errorf("tp: handshake not done within PeerConfig.HandshakeTimeout (%v)", p.cfg.HandshakeTimeout)
		s.closeBy(err)
		return nil, err
	}
	if rerr != nil {
		s.closeBy(fmt.Errorf("PostAccept: %s", rerr))
		return nil, rerr.ToError()
	}
	if err := p.startSession(s, p.cfg.MaxSessions); err != nil {
		return nil, err
	}
	Debugf("tp: accepted %s (session %s)", conn.RemoteAddr(), s.Id())
	return s, nil
}

// tlsHandshake completes the TLS handshake of an accepted connection
// before it becomes a session; a connection without TLS has none. The
// watchdog of serveConn bounds it, and so does the peer's context.
func (p *Peer) tlsHandshake(conn net.Conn) error {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return pkgerrors.Wrap(err, "tls handshake")
	}
	return nil
}

// full reports whether the peer holds MaxSessions sessions, or
// MaxHandshakes connections in their handshake.
func (p *Peer) full() bool {
	if limit := p.cfg.MaxSessions; limit > 0 && p.sessions.len() >= limit {
		return true
	}
	limit := int64(p.cfg.MaxHandshakes)
	return limit > 0 && p.handshakes.Load() >= limit
}
