package tp

import (
	"context"
	"fmt"
	"time"
)

// Redial backoff: the first retry waits redialMinBackoff, each next one
// twice as long, up to redialMaxBackoff.
const (
	redialMinBackoff = 50 * time.Millisecond
	redialMaxBackoff = 5 * time.Second
)

// canRedial reports whether a broken connection of s is dialed again.
func (s *session) canRedial() bool {
	return s.dialAddr() != "" && s.peer.cfg.RedialTimes > 0 && !s.closed.Load() && !s.peer.closing.Load()
}

// redial replaces the broken connection old of a dialed session, in its
// read loop: pulls waiting on old end with CodeConnClosed, then up to
// RedialTimes dials, with backoff, each followed by the PostDial hooks.
// It returns the new connection, or nil when every try failed.
func (s *session) redial(old *sockRef, cause error) *sockRef {
	s.redialing.Store(true)
	defer s.redialing.Store(false)
	_ = old.Close()
	s.failPending(fmt.Errorf("connection lost, redialing: %w", cause))
	Noticef("tp: session %s: connection to %s lost (%v); redialing", s.name(), s.dialAddr(), cause)
	backoff := redialMinBackoff
	for i := int32(1); i <= s.peer.cfg.RedialTimes; i++ {
		select {
		case <-s.closedCh():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, redialMaxBackoff)
		sock, err := s.dialSock()
		if err != nil {
			Warnf("tp: session %s: redial %d/%d to %s: %v", s.name(), i, s.peer.cfg.RedialTimes, s.dialAddr(), err)
			continue
		}
		s.sock.Store(sock)
		s.peer.sessions.rekey(s)
		s.pending.reopen()
		if s.closed.Load() { // closed while dialing: closeBy closed the old one
			_ = sock.Close()
			return nil
		}
		Noticef("tp: session %s: redialed %s (try %d)", s.name(), s.dialAddr(), i)
		return sock
	}
	return nil
}

// dialSock dials the session's address again and runs the PostDial hooks on
// the new connection; the session keeps its current one meanwhile.
func (s *session) dialSock() (*sockRef, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closedCh():
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := s.peer.dialConn(ctx, s.dialAddr())
	if err != nil {
		return nil, err
	}
	sock := newSockRef(conn, s.protoFuncs(), s.WriteTimeout())
	s.handshaking.Store(sock)
	rerr := runHooks("PostDial", s.peer.plugins.get().postDial, PreSession(s), PostDialPlugin.PostDial)
	s.handshaking.Store(nil)
	if rerr != nil {
		_ = sock.Close()
		return nil, rerr
	}
	return sock, nil
}
