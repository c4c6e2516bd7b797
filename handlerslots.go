package tp

import (
	"fmt"
	"sync"
	"time"
)

// Handler slots: PeerConfig.MaxSessionHandlers bounds the handlers running
// at once for the messages of one connection. A message past the bound
// waits in the connection's queue, of as many messages again; a handler
// that finishes runs the next one queued, on its own goroutine. Reading
// goes on meanwhile, so replies to the session's own pulls, which handlers
// may be waiting for (a nested pull back to the caller), and notices are
// never stuck behind a waiting message.
//
// Only when the queue is full too does the reader wait for a slot (TCP then
// slows the sender down), and only while no pull of ours waits for a reply
// on the connection: with one in flight, a message past the queue is
// refused as with RejectOverload (a pull answered CodeServiceUnavailable, a
// push dropped) rather than risk a deadlock. A pull of ours starting while
// the reader waits wakes it.
//
// sockRef.handling counts the connection's messages being handled or
// queued; the ones running are handling less the queue's length, a number
// the reader and the handlers that finish keep at MaxSessionHandlers while
// messages are queued (takeRunnable, under the queue's lock).

// handlerQueue is a connection's queue of messages waiting for a slot,
// made the first time one waits.
type handlerQueue struct {
	// mu guards q, and orders its changes with the checks of
	// sockRef.handling that decide what runs.
	mu sync.Mutex
	q  []*handlerCtx
}

// queue returns sock's handler queue, made on first use.
func (s *sockRef) queue() *handlerQueue {
	if q := s.overflow.Load(); q != nil {
		return q
	}
	s.overflow.CompareAndSwap(nil, new(handlerQueue))
	return s.overflow.Load()
}

// takeRunnable returns the first queued message when a slot is free for it
// (fewer than limit running), or nil; the caller holds q.mu.
func (q *handlerQueue) takeRunnable(sock *sockRef, limit int64) *handlerCtx {
	if len(q.q) == 0 || sock.handling.Load()-int64(len(q.q)) >= limit {
		return nil
	}
	c := q.q[0]
	q.q[0] = nil
	q.q = q.q[1:]
	if len(q.q) == 0 {
		q.q = nil // an idle connection keeps no backing array
	}
	return c
}

// dispatch hands a pull or push read on sock to a pooled goroutine, or
// queues it past the handler limit (see above). It returns false when the
// session closed while the message waited.
func (s *session) dispatch(c *handlerCtx, sock *sockRef) bool {
	p := s.peer
	limit := int64(p.cfg.MaxSessionHandlers)
	n := sock.handling.Add(1)
	if limit <= 0 || n <= limit {
		p.handling.Add(1)
		return s.startHandler(c)
	}
	if p.cfg.RejectOverload {
		s.refuse(c, sock, limit)
		return true
	}
	q := sock.queue()
	for {
		q.mu.Lock()
		if int64(len(q.q)) < limit {
			q.q = append(q.q, c)
			next := q.takeRunnable(sock, limit)
			q.mu.Unlock()
			if next != nil {
				p.handling.Add(1)
				return s.startHandler(next)
			}
			return true
		}
		q.mu.Unlock()
		// The queue is full: wait for a slot, unless a reply may be
		// behind this message.
		if sock.inflight.Load() > 0 {
			s.refuse(c, sock, limit)
			return true
		}
		if !s.waitSlot(sock) {
			sock.handling.Add(-1)
			p.putCtx(c)
			return false
		}
	}
}

// waitSlot waits until a handler of sock finishes or a pull of ours starts
// on it; false when the session closed meanwhile.
func (s *session) waitSlot(sock *sockRef) bool {
	slotFreed := sock.slotFreed.Load()
	if slotFreed == nil {
		ch := make(chan struct{}, 1)
		sock.slotFreed.CompareAndSwap(nil, &ch)
		slotFreed = sock.slotFreed.Load()
	}
	sock.readerWaits.Store(true)
	defer sock.readerWaits.Store(false)
	// A pull that started before the flag was up is seen by the count.
	if sock.inflight.Load() > 0 {
		return true
	}
	select {
	case <-*slotFreed:
		return true
	case <-s.closedCh():
		return false
	}
}

// wakeReader wakes sock's reader waiting in waitSlot, if it does.
func (s *sockRef) wakeReader() {
	if ch := s.slotFreed.Load(); ch != nil {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}

// refuse answers a message past the handler limit without running its
// handler, on the reader: a pull with CodeServiceUnavailable, a push
// dropped.
func (s *session) refuse(c *handlerCtx, sock *sockRef, limit int64) {
	s.peer.handling.Add(1)
	c.overloaded(limit)
	c.handle()
	next := s.releaseSlot(sock)
	s.peer.handling.Add(-1)
	if next != nil {
		s.startHandler(next)
	}
}

// startHandler runs c's handler on a pooled goroutine, waiting while the
// pool is exhausted; false when the session closed meanwhile (c is then
// dropped).
func (s *session) startHandler(c *handlerCtx) bool {
	for wait := time.Millisecond; !goHandler(c.handleFn); wait = min(2*wait, 100*time.Millisecond) {
		select {
		case <-time.After(wait):
		case <-s.closedCh():
			s.dropQueued(c)
			return false
		}
	}
	return true
}

// dropQueued ends c, a message of a closed session counted in the peer's
// handling, and those queued behind it, without running them.
func (s *session) dropQueued(c *handlerCtx) {
	for c != nil {
		sock := c.sock
		s.peer.putCtx(c)
		c = s.releaseSlot(sock)
		s.peer.handling.Add(-1)
	}
}

// runHandlers is what a pooled goroutine runs: c's handler, then those of
// the messages queued behind it as slots free up.
func (c *handlerCtx) runHandlers() {
	for c != nil {
		s, sock := c.sess, c.sock
		c.handle()
		c = s.releaseSlot(sock)
		s.peer.handling.Add(-1) // after the next one is counted: Close waits for both
		if c != nil && s.closed.Load() {
			c.rerr = rerrConnClosed.withDetail(fmt.Sprintf("session closed while %s %s waited for a handler slot", kindOf(c.input.Ptype() == TypePull), clipUri(c.input.Uri())))
		}
	}
}

// releaseSlot ends a message's use of a slot of sock, and returns the
// queued message that takes it, if any, counted in the peer's handling.
func (s *session) releaseSlot(sock *sockRef) *handlerCtx {
	n := sock.handling.Add(-1)
	var next *handlerCtx
	if q := sock.overflow.Load(); q != nil {
		q.mu.Lock()
		next = q.takeRunnable(sock, int64(s.peer.cfg.MaxSessionHandlers))
		q.mu.Unlock()
		if next != nil {
			s.peer.handling.Add(1)
		}
	}
	sock.wakeReader()
	if n == 0 && sock.retired.Load() {
		s.closeIfDrained(sock)
	}
	return next
}
