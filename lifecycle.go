package tp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The lifecycle of a session's connections. Every path that replaces or
// ends a connection (a redial after a broken connection, a move after a
// goaway, a drain, Session.Close, Peer.Close) is a transition under
// connOwner.mu, so there is at most one current connection, at most one
// goroutine dialing (the dialer), and every connection is in the live set
// until its read loop ends, so that closeBy ends them all.
//
//	state      current connection       new pulls            left by
//	---------  -----------------------  -------------------  ------------------------------------------
//	active     usable                   sent on it           goaway: moving (can redial) or draining;
//	                                                         connection lost: redialing (can redial),
//	                                                         draining (the remote closed its side),
//	                                                         else closed; Close: closed
//	moving     usable; the remote peer  sent on it, which    the dialer's new connection: active (the
//	           is closing (goaway)      its drain serves     old one retired, closed once idle); a
//	                                                         failed dial or the connection lost:
//	                                                         redialing; Close: closed
//	redialing  broken, or retired and   end at once, 102     the dialer's new connection: active; the
//	           closed once idle (a                           dialer gives up: closed; Close: closed
//	           move that failed to dial)
//	draining   retired: no new pulls    end at once, 102     its pulls and handlers done, or connection
//	                                                         lost, or Close: closed
//	closed     none                     end at once, 102     (final)
//
// A retired connection (the old one after a move) keeps its read loop
// until the replies of the pulls sent on it and the handlers of what it
// carried are done, then closes; closeBy closes it sooner. The dialer is
// started by the goaway (first try at once) or by the lost connection
// (first try after redialMinBackoff), tries RedialTimes times with a
// backoff doubling to redialMaxBackoff, runs the PostDial hooks on each new
// connection, and ends when a connection is installed, when it gives up, or
// when the session closes.

// connState is a session's state; see the table above.
type connState int32

const (
	stateActive connState = iota
	stateMoving
	stateRedialing
	stateDraining
	stateClosed
)

var connStateNames = [...]string{"active", "moving", "redialing", "draining", "closed"}

func (c connState) String() string { return connStateNames[c] }

// connOwner is the owner of a session's connections.
type connOwner struct {
	// mu guards the fields below, the session's state (its lcState is
	// written under it, read without it) and which connection is current
	// (session.sock is stored under it).
	mu sync.Mutex
	// live holds every connection whose reading has not ended: the
	// current one and retired ones draining.
	live []*sockRef
	// dialing is true while the dialer runs.
	dialing bool
}

// Redial backoff: the first retry waits redialMinBackoff, each next one
// twice as long, up to redialMaxBackoff.
const (
	redialMinBackoff = 50 * time.Millisecond
	redialMaxBackoff = 5 * time.Second
)

// state returns the session's state.
func (s *session) state() connState { return connState(s.lcState.Load()) }

// setStateLocked changes the state; the caller holds lc.mu.
func (s *session) setStateLocked(st connState) {
	s.lcState.Store(int32(st))
	if st == stateDraining {
		s.draining.Store(true)
	}
}

// canRedial reports whether a broken connection of s is dialed again.
func (s *session) canRedial() bool {
	return s.dialAddr() != "" && s.peer.cfg.RedialTimes > 0 && !s.closed.Load() && !s.peer.closing.Load()
}

// removeLiveLocked takes sock out of the live set; the caller holds lc.mu.
func (s *session) removeLiveLocked(sock *sockRef) {
	for i, c := range s.lc.live {
		if c == sock {
			last := len(s.lc.live) - 1
			s.lc.live[i] = s.lc.live[last]
			s.lc.live[last] = nil
			s.lc.live = s.lc.live[:last]
			return
		}
	}
}

// startDialerLocked starts the dialer unless it runs; false when the peer
// is closed and it cannot start. The caller holds lc.mu.
func (s *session) startDialerLocked(firstAtOnce bool) bool {
	if s.lc.dialing {
		return true
	}
	if !s.peer.addReadLoop() {
		return false
	}
	s.lc.dialing = true
	go s.dialer(firstAtOnce)
	return true
}

// onGoaway reacts to the remote peer's goaway received on sock: move to a
// new connection when the session can redial, else drain and close.
func (s *session) onGoaway(sock *sockRef) {
	s.lc.mu.Lock()
	if s.state() != stateActive || sock != s.sock.Load() {
		s.lc.mu.Unlock()
		return // already moving or ending, or an old connection's
	}
	Debugf("tp: session %s: the remote peer is closing", s.name())
	if s.canRedial() {
		s.setStateLocked(stateMoving)
		if s.startDialerLocked(true) {
			s.lc.mu.Unlock()
			return
		}
	}
	s.lc.mu.Unlock()
	s.drain(sock)
}

// drain stops new pulls on sock, the current connection, and closes the
// session once the pulls in flight on it and the handlers of what it
// carried are done.
func (s *session) drain(sock *sockRef) {
	s.lc.mu.Lock()
	if s.state() == stateClosed || sock != s.sock.Load() {
		s.lc.mu.Unlock()
		return
	}
	s.drainLocked(sock)
	s.lc.mu.Unlock()
	s.closeIfDrained(sock)
}

// drainLocked stops new pulls on sock, the current connection: the session
// closes once the pulls in flight on it and the handlers of what it
// carried are done. The caller holds lc.mu, and calls closeIfDrained after.
func (s *session) drainLocked(sock *sockRef) {
	s.setStateLocked(stateDraining)
	sock.retired.Store(true)
}

// connEnded is called when the reading of sock has ended with err: the
// connection is lost, or was closed on our side.
func (s *session) connEnded(sock *sockRef, err error) {
	s.lc.mu.Lock()
	s.removeLiveLocked(sock)
	st := s.state()
	switch {
	case st == stateClosed:
		s.lc.mu.Unlock()
		_ = sock.Close()
	case sock != s.sock.Load():
		// A retired connection: the pulls still waiting on it can have
		// no reply now.
		s.lc.mu.Unlock()
		_ = sock.Close()
		s.endPullsOn(sock, fmt.Sprintf("the connection the pull was sent on closed: %v", err))
	case st == stateRedialing:
		// The old connection of a move that could not dial at once,
		// closed once idle, or closed by the remote peer.
		s.lc.mu.Unlock()
		_ = sock.Close()
		s.endPullsOn(sock, fmt.Sprintf("connection lost, redialing: %v", err))
	case (st == stateActive || st == stateMoving) && s.canRedial():
		s.setStateLocked(stateRedialing)
		sock.retired.Store(true) // new pulls end at once until a new connection is in
		started := s.startDialerLocked(false)
		s.lc.mu.Unlock()
		_ = sock.Close()
		s.endPullsOn(sock, fmt.Sprintf("connection lost, redialing: %v", err))
		if !started {
			s.closeBy(err)
			return
		}
		Noticef("tp: session %s: connection to %s lost (%v); redialing", s.name(), s.dialAddr(), err)
	case st == stateActive && err == io.EOF:
		// The remote peer closed its side: it sends nothing more, but
		// may still read. Its pulls and pushes being handled still get
		// their replies, though their contexts are cancelled (as
		// net/http cancels a request whose client went away); the pulls
		// of ours waiting on sock end now, since no reply can come.
		sock.readEOF.Store(true)
		s.drainLocked(sock)
		s.lc.mu.Unlock()
		s.cancelContext()
		s.endPullsOn(sock, "the remote peer closed the connection")
		s.closeIfDrained(sock)
	default:
		s.lc.mu.Unlock()
		s.closeBy(err)
	}
}

// endPullsOn ends with CodeConnClosed the pulls waiting on sock.
func (s *session) endPullsOn(sock *sockRef, detail string) {
	for _, cmd := range s.pending.takeIf(func(c *PullCmd) bool { return c.sock == sock }) {
		cmd.end(rerrConnClosed.withDetail(detail))
	}
	s.endStreamsOn(sock, rerrConnClosed.withDetail(detail))
}

// dialer dials the session's address again, up to RedialTimes tries with
// backoff, the first at once when firstAtOnce, and installs the first
// connection that passes its PostDial hooks. It is counted in the peer's
// readLoops.
func (s *session) dialer(firstAtOnce bool) {
	defer s.peer.readLoops.Done()
	backoff := redialMinBackoff
	var err error
	for try := int32(1); try <= s.peer.cfg.RedialTimes; try++ {
		if try > 1 || !firstAtOnce {
			t := time.NewTimer(backoff)
			select {
			case <-s.closedCh():
				t.Stop()
				s.lc.mu.Lock()
				s.lc.dialing = false
				s.lc.mu.Unlock()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, redialMaxBackoff)
		}
		var sock *sockRef
		if sock, err = s.dialSock(); err != nil {
			Warnf("tp: session %s: redial %d/%d to %s: %v", s.name(), try, s.peer.cfg.RedialTimes, s.dialAddr(), err)
			s.moveFailed()
			continue
		}
		if s.install(sock) {
			Noticef("tp: session %s: redialed %s (try %d)", s.name(), s.dialAddr(), try)
		}
		return
	}
	s.dialerGaveUp(err)
}

// moveFailed is called when a dial fails: a session moving away from a
// closing peer stops sending on the old connection, which closes once its
// pulls and handlers are done, and redials with backoff as after a crash
// (the closing peer may be restarting on the same address).
func (s *session) moveFailed() {
	s.lc.mu.Lock()
	if s.state() != stateMoving {
		s.lc.mu.Unlock()
		return
	}
	old := s.sock.Load()
	s.setStateLocked(stateRedialing)
	old.retired.Store(true)
	s.lc.mu.Unlock()
	s.closeIfDrained(old)
}

// install makes sock, a new connection of the dialer, the current one, and
// starts reading it; false when the session closed meanwhile (sock is
// closed then).
func (s *session) install(sock *sockRef) bool {
	if !s.peer.addReadLoop() {
		_ = sock.Close()
		s.closeBy(errors.New("peer is closed"))
		return false
	}
	s.lc.mu.Lock()
	s.lc.dialing = false
	prev := s.state()
	if prev == stateClosed {
		s.lc.mu.Unlock()
		_ = sock.Close()
		s.peer.readLoops.Done()
		return false
	}
	old := s.sock.Load()
	s.sock.Store(sock)
	s.lc.live = append(s.lc.live, sock)
	if prev == stateMoving {
		old.retired.Store(true) // pulls already sent on it finish there
	}
	s.setStateLocked(stateActive)
	s.lc.mu.Unlock()
	s.peer.sessions.rekey(s)
	s.startReading(sock)
	if prev == stateMoving {
		s.closeIfDrained(old)
		Debugf("tp: session %s: moved to a new connection to %s", s.name(), s.dialAddr())
	}
	return true
}

// dialerGaveUp ends the dialer after RedialTimes failed tries: a session
// still on the connection of a closing peer drains it, one with no
// connection closes.
func (s *session) dialerGaveUp(err error) {
	s.lc.mu.Lock()
	s.lc.dialing = false
	switch s.state() {
	case stateMoving:
		sock := s.sock.Load()
		s.drainLocked(sock)
		s.lc.mu.Unlock()
		Noticef("tp: session %s: cannot move away from a closing peer: %v", s.name(), err)
		s.closeIfDrained(sock)
	case stateRedialing:
		s.lc.mu.Unlock()
		s.closeBy(err)
	default:
		s.lc.mu.Unlock()
	}
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
	sock := s.peer.newSockRef(conn, s.protoFuncs(), s.WriteTimeout())
	s.handshaking.Store(sock)
	if s.closed.Load() {
		// closeBy may have looked for a handshaking connection before
		// this one was there.
		s.handshaking.Store(nil)
		_ = sock.Close()
		return nil, errSessionClosed
	}
	rerr := runHooks("PostDial", s.peer.plugins.get().postDial, PreSession(s), PostDialPlugin.PostDial)
	s.handshaking.Store(nil)
	if rerr != nil {
		_ = sock.Close()
		return nil, rerr
	}
	sock.handshaking(s.peer, false)
	return sock, nil
}

// closeIfDrained ends the retired connection sock once nothing is in
// flight on it either way: no pull of ours waits for a reply, no handler
// of ours has a reply to write.
func (s *session) closeIfDrained(sock *sockRef) {
	if sock.inflight.Load() == 0 && sock.handling.Load() == 0 && sock.streams.Load() == 0 {
		s.retiredIdle(sock)
	}
}

// retiredIdle ends a retired connection whose pulls and handlers have all
// ended: a draining session closes, the old connection of a move closes (its
// read loop then ends), a redialing session's broken connection is left
// alone.
func (s *session) retiredIdle(sock *sockRef) {
	s.lc.mu.Lock()
	st, current := s.state(), sock == s.sock.Load()
	s.lc.mu.Unlock()
	switch {
	case current && st == stateDraining:
		if sock.readEOF.Load() {
			s.closeBy(io.EOF)
		} else {
			s.closeBy(errGoaway)
		}
	default:
		// The old connection of a move, or of a move that could not
		// dial at once (redialing): its read loop ends, and connEnded
		// ends what waits on it.
		_ = sock.Close()
	}
}
