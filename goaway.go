package tp

import (
	"errors"
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
		streams, _ := parseCaps(c.input.Meta().Peek(metaCapsKey))
		s.learnCaps(c.sock, streams)
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
