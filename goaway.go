package tp

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// notice is a push of the framework's own, handled by the session itself
// rather than routed: its URIs are under /_tp/.
type notice uint8

const (
	noticeNone notice = iota
	noticeGoaway
	noticeCancel
	noticeCaps
)

// noticeOf returns the notice a push to uri is, or noticeNone.
func noticeOf(uri string) notice {
	switch uri {
	case goawayUri:
		return noticeGoaway
	case cancelUri:
		return noticeCancel
	case capsUri:
		return noticeCaps
	}
	return noticeNone
}

// onNotice acts on a notice c carries, in the read loop.
func (s *session) onNotice(c *handlerCtx) {
	switch c.notice {
	case noticeGoaway:
		s.onGoaway(c.sock)
	case noticeCancel:
		s.callState().notice(c.input.Seq())
	case noticeCaps:
		s.learnCaps(c.sock)
	}
}

// goawayUri is the push a closing peer sends on each session before it
// stops: "finish what you sent, send nothing new here". A peer of this
// package that can redial moves the session to a new connection; one that
// cannot stops pulling and closes once its pulls have ended. A teleport v3
// peer drops it as an unknown push, and the closing peer falls back to
// waiting for its drain timeout.
const goawayUri = "/_tp/goaway"

// DefaultCloseDrain is how long Close waits, at most, for remote peers to
// leave after the goaway before it closes their sessions itself.
const DefaultCloseDrain = 2 * time.Second

var errGoaway = errors.New("the remote peer is closing (goaway)")

// sendGoaway tells the remote peer this one is closing.
func (s *session) sendGoaway() {
	p := socket.GetPacket()
	defer socket.PutPacket(p)
	p.SetSeq(s.seq.Add(1))
	p.SetPtype(TypePush)
	p.SetUri(goawayUri)
	if err := s.write(p); err != nil {
		Debugf("tp: session %s: goaway not sent: %v", s.name(), err)
	}
}

// onGoaway reacts to the remote peer's goaway received on sock: move to a
// new connection when the session can redial, else drain and close.
func (s *session) onGoaway(sock *sockRef) {
	if sock != s.sock.Load() || sock.retired.Load() {
		return
	}
	Debugf("tp: session %s: the remote peer is closing", s.name())
	if s.canRedial() {
		go func() {
			if !s.migrate(sock) {
				s.drain(sock)
			}
		}()
		return
	}
	s.drain(sock)
}

// drain stops new pulls and closes the session once the pulls in flight on
// sock have ended and the messages read on it have been handled.
func (s *session) drain(sock *sockRef) {
	s.draining.Store(true)
	sock.retired.Store(true)
	s.closeIfDrained(sock)
}

// closeIfDrained ends the retired connection sock once nothing is in
// flight on it either way: no pull of ours waits for a reply, no handler
// of ours has a reply to write.
func (s *session) closeIfDrained(sock *sockRef) {
	if sock.inflight.Load() == 0 && sock.handling.Load() == 0 {
		s.retiredIdle(sock)
	}
}

// migrate dials a new connection for a session whose remote peer sent a
// goaway on old, and moves the session to it: pulls already sent on old
// finish there, new ones go to the new connection.
func (s *session) migrate(old *sockRef) bool {
	sock, err := s.dialSock()
	if err != nil {
		Noticef("tp: session %s: cannot move away from a closing peer: %v", s.name(), err)
		return false
	}
	if !s.peer.addReadLoop() {
		_ = sock.Close()
		return false
	}
	// The new connection is current before the old one is retired: a pull
	// starting in between then still finds a connection to write on.
	s.sock.Store(sock)
	s.peer.sessions.rekey(s)
	old.retired.Store(true)
	if s.closed.Load() {
		// Closed while dialing: closeBy may have closed old, not sock.
		_ = sock.Close()
	}
	s.startReading(sock)
	s.closeIfDrained(old)
	Debugf("tp: session %s: moved to a new connection to %s", s.name(), s.dialAddr())
	return true
}

// retiredBroken handles the end of a retired connection's read loop: when
// it was replaced, the pulls still waiting on it end with CodeConnClosed;
// when it was not (the session was draining), the session closes.
func (s *session) retiredBroken(sock *sockRef, err error) {
	if sock == s.sock.Load() {
		s.closeBy(err)
		return
	}
	_ = sock.Close()
	for _, cmd := range s.pending.takeIf(func(c *PullCmd) bool { return c.sock == sock }) {
		cmd.end(rerrConnClosed.withDetail(fmt.Sprintf("the connection the pull was sent on closed: %v", err)))
	}
}

// retiredIdle ends a retired connection whose pulls have all ended.
func (s *session) retiredIdle(sock *sockRef) {
	if s.closed.Load() {
		// Already closing (maybe in closeBy itself, ending the pulls
		// whose end brought us here): only the connection is left.
		_ = sock.Close()
		return
	}
	if sock == s.sock.Load() {
		if sock.readEOF.Load() {
			s.closeBy(io.EOF)
		} else {
			s.closeBy(errGoaway)
		}
		return
	}
	_ = sock.Close()
}
