package tp

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/teleport-go/teleport/socket"
)

// Capabilities: what a peer of this package understands beyond teleport
// v3.0 is told per connection, so that nothing is sent that a v3.0 peer
// cannot take: cancel notices, and streams.
//
//   - The first pull a peer sends on a connection carries metaCapsKey,
//     "cancel,stream": "I understand cancel notices, the caps notice and
//     streams; tell me yours". A v3.0 peer ignores the metadata. Earlier
//     versions of this package wrote "cancel" alone, and read only that
//     exact value: they learn nothing from the longer one, and so send no
//     cancel notices to a newer peer, as towards v3.0.
//   - The caps notice carries the same metaCapsKey value.
//   - A peer that reads such a pull answers at once with the caps notice
//     (a push to capsUri), unless it already told the connection's other
//     end its capabilities. The caller of the session's first pull thus
//     knows long before that pull's reply comes.
//   - The first reply a peer writes on a connection carries metaCapsKey
//     as well, for callers that do not mark their pulls (the TypeScript
//     client).
//
// A pull cancelled before the other end's capabilities are known keeps its
// seq in the connection's deferred cancels; the notices go out when the
// capabilities arrive, and never when they do not (a v3.0 peer).
const (
	metaCapsKey   = "X-Tp-Caps"
	capsCancel    = "cancel"
	capsStream    = "stream"
	capsAll       = "cancel,stream" // what this package understands
	capsUri       = "/_tp/caps"     // a push: the sender understands cancels
	cancelUri     = "/_tp/cancel"   // a push whose seq is the pull's
	cancelledRing = 16
	// maxDeferredCancels bounds the cancels a connection keeps while the
	// other end's capabilities are unknown: the oldest are dropped.
	maxDeferredCancels = 64
)

// connCaps is what one connection knows of the other end's capabilities.
type connCaps struct {
	// remote is set once the other end said it understands cancels; it
	// only ever goes from false to true, under mu.
	remote atomic.Bool
	// streams is set, before remote, when the other end also understands
	// streams.
	streams atomic.Bool
	// mu guards deferred, and the change of remote.
	mu sync.Mutex
	// deferred are the seqs of pulls cancelled while remote was unknown.
	deferred []uint64
}

// markCaps adds the capability marker to out, the first pull or reply
// written on sock; it reports whether it did, for undoMarkCaps.
func markCaps(sock *sockRef, out *socket.Packet) bool {
	if sock.capsSent.Load() || !sock.capsSent.CompareAndSwap(false, true) {
		return false
	}
	out.Meta().Set(metaCapsKey, capsAll)
	return true
}

// undoMarkCaps takes the marker off a packet that it made too large: a
// later pull or reply carries it.
func undoMarkCaps(sock *sockRef, out *socket.Packet) {
	out.Meta().Del(metaCapsKey)
	sock.capsSent.Store(false)
}

// hasCapsMarker reports whether in, a pull or reply, carries the marker.
func hasCapsMarker(in *socket.Packet) bool {
	if in.Meta().Len() == 0 {
		return false
	}
	_, ok := parseCaps(in.Meta().Peek(metaCapsKey))
	return ok
}

// parseCaps reads a metaCapsKey value, a comma-separated list: ok when it
// names cancel notices (what every version of this package understands),
// streams when it names streams too.
func parseCaps(v []byte) (streams, ok bool) {
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		switch string(item) {
		case capsCancel:
			ok = true
		case capsStream:
			streams = true
		}
	}
	return streams && ok, ok
}

// onPullCaps is called in the read loop for every pull read on sock until
// the other end's capabilities are known: a marked pull teaches them, and
// asks for ours.
func (s *session) onPullCaps(sock *sockRef, in *socket.Packet) {
	streams, ok := parseCaps(in.Meta().Peek(metaCapsKey))
	if !ok {
		return
	}
	s.learnCaps(sock, streams)
	if !sock.capsSent.Load() && sock.capsSent.CompareAndSwap(false, true) {
		s.sendNotice(sock, capsUri, s.seq.Add(1))
	}
}

// learnCaps records that the other end of sock understands cancel
// notices, and streams when streams, and sends the cancel notices deferred
// until it was known.
func (s *session) learnCaps(sock *sockRef, streams bool) {
	sock.caps.mu.Lock()
	if sock.caps.remote.Load() {
		sock.caps.mu.Unlock()
		return
	}
	if streams {
		sock.caps.streams.Store(true)
	}
	sock.caps.remote.Store(true)
	deferred := sock.caps.deferred
	sock.caps.deferred = nil
	sock.caps.mu.Unlock()
	for _, seq := range deferred {
		s.sendNotice(sock, cancelUri, seq)
	}
}

// sendCancel tells the other end of sock that the caller of the pull seq
// gave up: now when it understands cancel notices, once it says so when
// that is not known yet, never when it cannot (a v3.0 peer).
func (s *session) sendCancel(seq uint64, sock *sockRef) {
	if sock == nil {
		return
	}
	if sock.caps.remote.Load() {
		s.sendNotice(sock, cancelUri, seq)
		return
	}
	sock.caps.mu.Lock()
	if !sock.caps.remote.Load() {
		if sock.capsSent.Load() { // we asked: an answer may come
			if len(sock.caps.deferred) == maxDeferredCancels {
				sock.caps.deferred = append(sock.caps.deferred[:0], sock.caps.deferred[1:]...)
			}
			sock.caps.deferred = append(sock.caps.deferred, seq)
		}
		sock.caps.mu.Unlock()
		return
	}
	sock.caps.mu.Unlock()
	s.sendNotice(sock, cancelUri, seq)
}

// sendNotice writes a notice of the framework's own, a push to uri with
// seq, on sock.
func (s *session) sendNotice(sock *sockRef, uri string, seq uint64) {
	p := socket.GetPacket()
	defer socket.PutPacket(p)
	p.SetSeq(seq)
	p.SetPtype(TypePush)
	p.SetUri(uri)
	if uri == capsUri {
		p.Meta().Set(metaCapsKey, capsAll)
	}
	if err := s.writeOn(sock, p); err != nil {
		Debugf("tp: session %s: notice %s (seq %d) not sent: %v", s.name(), uri, seq, err)
	}
}
