package tp

import (
	"syscall"

	"github.com/teleport-go/teleport/internal/netpoll"
)

// Idle sessions park: a session with nothing to read waits in its peer's
// poller (internal/netpoll, one goroutine for the whole peer) instead of
// on a goroutine of its own, so that it costs no stack at all. When bytes
// arrive, or the connection ends, a goroutine of the read pool resumes the
// reading (resume), reads what came and lingers for more (readFrames), and
// parks the connection again once it goes quiet. A connection that cannot
// park (TLS, in-memory pipes, WebSocket, a session with a read timeout,
// systems other than Linux) is read by readLoop on a goroutine of its own.

// The states of sockRef.parkState.
const (
	readRunning int32 = iota // a goroutine reads, or is about to
	readParking              // park is arming the poller
	readParked               // the poller waits; no goroutine
	readWoken                // woken while park was arming: park reads on
)

// startReading starts the reading of sock, a new connection of s: parked
// when it can be, on a goroutine of its own otherwise. The caller has
// counted it in the peer's readLoops.
func (s *session) startReading(sock *sockRef) {
	if !s.park(sock) {
		go s.readLoop(sock)
	}
}

// park hands sock's wait for its next frame to the peer's poller, and
// reports whether it did: the caller's goroutine then leaves the reading
// to whichever goroutine resume runs on. When park returns false, the
// caller reads on.
func (s *session) park(sock *sockRef) bool {
	if s.ReadTimeout() > 0 {
		return false // a deadline needs a blocked read to expire
	}
	pc, ok := sock.Socket.(interface {
		PollConn() (syscall.RawConn, bool)
	})
	if !ok {
		return false
	}
	rc, ok := pc.PollConn()
	if !ok {
		return false
	}
	poller := s.peer.readPoller()
	if poller == nil {
		return false
	}
	if sock.resume == nil {
		sock.resume = func() { s.resume(sock) }
		sock.wakeFn = sock.wake
	}
	sock.parkState.Store(readParking)
	err := poller.Arm(&sock.watch, rc, sock.wakeFn)
	if err == nil && sock.parkState.CompareAndSwap(readParking, readParked) {
		return true
	}
	// Arm failed, or the poller or Close woke sock meanwhile: this
	// goroutine reads on, and an event of that arm will be stale.
	sock.parkState.Store(readRunning)
	return false
}

// wake is called by the poller when a parked connection has bytes to read
// or has ended, and by Close: the reading resumes on a pooled goroutine.
// A connection being parked is told to read on instead.
func (s *sockRef) wake() {
	for {
		switch s.parkState.Load() {
		case readParking:
			if s.parkState.CompareAndSwap(readParking, readWoken) {
				return
			}
		case readParked:
			if s.parkState.CompareAndSwap(readParked, readRunning) {
				if readPool.Go(s.resume) != nil {
					go s.resume() // the pool is full: one goroutine more
				}
				return
			}
		default:
			return
		}
	}
}

// resume reads what arrived on sock, a connection the poller woke, and
// parks it again when it goes quiet; it runs on a goroutine of the read
// pool, which it hands back then.
func (s *session) resume(sock *sockRef) {
	for sock != nil {
		sock.setReadDeadline(s.ReadTimeout())
		next := sock
		if err := sock.waitRead(); err != nil {
			next = s.readFailed(sock, err)
		} else {
			next = s.readFrames(sock)
		}
		if next != sock {
			s.leftSock(sock)
		}
		if sock = next; sock == nil || s.park(sock) {
			break
		}
		if s.ReadTimeout() > 0 {
			// A wait with a deadline: on a goroutine of the smallest
			// stack, not on this one of the pool.
			go s.readLoop(sock)
			return
		}
	}
	if sock == nil {
		s.peer.readLoops.Done()
	}
}

// leftSock is called when the reading of sock is over: its registration
// with the poller, if it has one, goes.
func (s *session) leftSock(sock *sockRef) {
	if sock.resume != nil {
		if poller := s.peer.readPoller(); poller != nil {
			poller.Forget(&sock.watch)
		}
	}
}

// readPoller returns the poller the peer's idle sessions wait in, started
// on first use, or nil where there is none (or the peer is closed).
func (p *Peer) readPoller() *netpoll.Poller {
	if poller := p.poller.Load(); poller != nil {
		return poller
	}
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if poller := p.poller.Load(); poller != nil || p.pollDone {
		return poller
	}
	poller, err := netpoll.New()
	if err != nil {
		p.pollDone = true // unsupported, or out of descriptors
		Debugf("tp: idle sessions wait on goroutines: %v", err)
		return nil
	}
	p.poller.Store(poller)
	return poller
}

// closeReadPoller stops the peer's poller once no session reads any more.
func (p *Peer) closeReadPoller() {
	p.pollMu.Lock()
	poller := p.poller.Swap(nil)
	p.pollDone = true
	p.pollMu.Unlock()
	if poller != nil {
		_ = poller.Close()
	}
}
