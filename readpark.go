package tp

import (
	"math"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/teleport-go/teleport/internal/netpoll"
)

// Idle sessions park: a session with nothing to read waits in its peer's
// poller (internal/netpoll, one goroutine for the whole peer) instead of
// on a goroutine of its own, so that it costs no stack at all. When bytes
// arrive, or the connection ends, a goroutine of the read pool resumes the
// reading (resume), reads what came and lingers for more (readFrames), and
// parks the connection again once it goes quiet. A session's read timeout
// is kept by a timer while it is parked. A connection that cannot park
// (TLS, in-memory pipes, WebSocket, systems other than Linux) is read by
// readLoop on a goroutine of its own.

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
	if s.park(sock) != parked {
		go s.readLoop(sock)
	}
}

// What park did.
const (
	parked      = iota // the poller waits for sock; the caller leaves it
	parkWoken          // bytes, or the end, came while parking: read on
	parkRefused        // sock cannot wait in the poller: wait on a goroutine
)

// park hands sock's wait for its next frame to the peer's poller. When it
// returns parked, the caller's goroutine leaves the reading to whichever
// goroutine resume runs on; otherwise the caller reads on. A session with
// a read timeout parks with a timer that ends the wait as a read deadline
// would (see expire).
func (s *session) park(sock *sockRef) int {
	pc, ok := sock.Socket.(interface {
		PollConn() (syscall.RawConn, bool)
	})
	if !ok {
		return parkRefused
	}
	rc, ok := pc.PollConn()
	if !ok {
		return parkRefused
	}
	poller := s.peer.readPoller()
	if poller == nil {
		return parkRefused
	}
	if sock.resume == nil {
		sock.resume = func() { s.resume(sock) }
		sock.wakeFn = sock.wake
	}
	sock.parkState.Store(readParking)
	rt := s.ReadTimeout()
	if rt > 0 {
		sock.startIdleTimer(rt)
	} else if sock.idleTimer != nil {
		// The timeout was removed: the timer of an earlier wait must
		// not end this one.
		sock.idleDeadline.Store(math.MaxInt64)
		sock.idleTimer.Stop()
	}
	if err := poller.Arm(&sock.watch, rc, sock.wakeFn); err != nil {
		sock.parkState.Store(readRunning)
		return parkRefused
	}
	if !sock.parkState.CompareAndSwap(readParking, readParked) {
		// The poller or Close woke sock meanwhile: an event of this
		// arm, if one is still due, will be stale.
		sock.parkState.Store(readRunning)
		return parkWoken
	}
	if rt > 0 && monoNow() >= sock.idleDeadline.Load() {
		sock.expire() // the timer fired while sock was being parked
	}
	return parked
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
				s.goResume()
				return
			}
		default:
			return
		}
	}
}

// goResume runs resume on a goroutine of the read pool.
func (s *sockRef) goResume() { goRead(s.resume) }

// monoEpoch anchors monoNow.
var monoEpoch = time.Now()

// monoNow returns the monotonic time in nanoseconds since monoEpoch.
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// startIdleTimer has expire end sock's wait d from now.
func (s *sockRef) startIdleTimer(d time.Duration) {
	s.idleDeadline.Store(monoNow() + int64(d))
	if s.idleTimer == nil {
		s.idleTimer = time.AfterFunc(d, s.expire)
	} else {
		s.idleTimer.Reset(d)
	}
}

// expire ends the wait of a parked connection whose read timeout has
// passed: resume then fails the read with a timeout, as a blocked read's
// deadline would. A timer of an earlier wait, firing late, finds the
// deadline of the current one not yet passed, or sock not parked.
func (s *sockRef) expire() {
	if monoNow() < s.idleDeadline.Load() {
		return
	}
	if s.parkState.CompareAndSwap(readParked, readRunning) {
		s.timedOut.Store(true)
		s.goResume()
	}
}

// readTimeoutError is what a read whose deadline passed returns.
func (s *sockRef) readTimeoutError() error {
	local := s.LocalAddr()
	return &net.OpError{Op: "read", Net: local.Network(), Source: local, Addr: s.RemoteAddr(), Err: os.ErrDeadlineExceeded}
}

// resume reads what arrived on sock, a connection the poller woke (or
// whose read timeout passed), and parks it again when it goes quiet; it
// runs on a goroutine of the read pool, which it hands back then.
func (s *session) resume(sock *sockRef) {
	for sock != nil {
		if sock = s.readRound(sock, true); sock == nil {
			break
		}
		switch s.park(sock) {
		case parked:
			return
		case parkRefused:
			// Wait on a goroutine of the smallest stack, not on this
			// one of the pool.
			go s.readLoop(sock)
			return
		}
	}
	s.peer.readLoops.Done()
}

// readRound waits for sock's next frames (they have arrived when the
// poller woke it) and reads them: on this goroutine when onPool (one of the
// read pool), through readBusy otherwise (a read loop's small stack). It
// returns the connection to go on with, or nil when the reading is over.
func (s *session) readRound(sock *sockRef, onPool bool) *sockRef {
	next := sock
	if sock.timedOut.Swap(false) {
		next = s.readFailed(sock, sock.readTimeoutError())
	} else {
		sock.setReadDeadline(s.ReadTimeout())
		if err := sock.waitRead(); err != nil {
			next = s.readFailed(sock, err)
		} else if onPool {
			next = s.readFrames(sock)
		} else {
			next = s.readBusy(sock)
		}
	}
	if next != sock {
		s.leftSock(sock)
	}
	return next
}

// leftSock is called when the reading of sock is over: its registration
// with the poller, if it has one, goes.
func (s *session) leftSock(sock *sockRef) {
	if sock.idleTimer != nil {
		sock.idleTimer.Stop()
	}
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
