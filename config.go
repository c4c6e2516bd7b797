package tp

import (
	"fmt"
	"time"

	"github.com/teleport-go/teleport/codec"
)

// PeerConfig configures a Peer. The zero value works: a TCP client with
// no timeouts and JSON bodies. NewPeer copies it.
type PeerConfig struct {
	// Network is "tcp" (the default when empty), "tcp4", "tcp6", "unix"
	// or "unixpacket".
	Network string
	// ListenAddrs are served by Listen, all at once. Empty: the peer only
	// dials (Listen returns an error).
	ListenAddrs []string
	// TlsCertFile and TlsKeyFile, both set, make the peer use TLS for
	// listening and dialing; empty: plain text (see also SetTLSConfig).
	TlsCertFile string
	TlsKeyFile  string
	// DefaultReadTimeout closes a session that receives nothing for that
	// long; 0: never.
	DefaultReadTimeout time.Duration
	// DefaultWriteTimeout fails a write that stays blocked that long, the
	// connection taking none of its bytes (a peer that stopped reading, a
	// link that is down), closing the session; a slow link that still
	// takes bytes only makes writers wait. 0: no limit.
	DefaultWriteTimeout time.Duration
	// DefaultDialTimeout bounds Dial; 0: the operating system's limit.
	DefaultDialTimeout time.Duration
	// HandshakeTimeout bounds the handshake of every connection the peer
	// accepts, from the accept to the end of its PostAccept hooks (the TLS
	// handshake and an auth plugin's token included), and the TLS
	// handshake of every connection it dials, whatever the other
	// timeouts: a client that connects and never sends its ClientHello,
	// or its token, is closed then. 0: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// RedialTimes is how many times a dialed session broken unexpectedly
	// is dialed again; 0: never.
	RedialTimes int32
	// SlowCometDuration logs handlers and pulls slower than this at
	// WARNING; 0: never.
	SlowCometDuration time.Duration
	// DefaultBodyCodec names the codec of bodies whose codec is not set
	// ("json" when empty).
	DefaultBodyCodec string
	// PrintBody adds bodies to the per-message log lines.
	PrintBody bool
	// CountTime adds the cost time to the per-message log lines.
	CountTime bool

	// MaxSessions is the most sessions the peer keeps open at once;
	// connections accepted past it are closed at once (a NOTICE line, at
	// most one per second). 0: derived from the process's limit on open
	// files, less a share kept for listeners, dials and the program's own
	// files (see defaultMaxSessions); DefaultMaxSessions where the system
	// has no such limit. Negative: no limit.
	// Dialed sessions count too, but a dial is never refused by it.
	MaxSessions int
	// MaxHandshakes is the most accepted connections the peer keeps in
	// their handshake at once (the TLS handshake and the PostAccept
	// hooks, such as an auth plugin waiting for its token); connections
	// past it are closed at once. They hold no session slot: clients that
	// never finish their handshake cannot lock others out of MaxSessions.
	// 0: DefaultMaxHandshakes; negative: no limit.
	MaxHandshakes int
	// MaxHandshakeFrame is the largest frame, in bytes, read on a
	// connection before its session is established (by the PostAccept
	// and PostDial plugins: an auth token, say), refused on its size
	// field before any of it is read. 0: DefaultMaxHandshakeFrame.
	MaxHandshakeFrame int
	// MaxPendingFrameBytes bounds the memory held, across all the peer's
	// connections, by frames being read and not yet whole (see
	// socket.FrameBudget): a frame that would pass it ends its connection.
	// It should hold a few frames of the packet size limit. 0:
	// DefaultMaxPendingFrameBytes; negative: no bound.
	MaxPendingFrameBytes int64
	// MaxSessionHandlers is the most handlers running at once for the
	// messages of one session. 0: DefaultMaxSessionHandlers; negative: no
	// limit. What happens past it is RejectOverload's choice.
	MaxSessionHandlers int
	// RejectOverload chooses what a session does with a message that
	// arrives while MaxSessionHandlers of its handlers are running.
	// false (the default): back-pressure; the session stops reading until
	// a handler finishes, so TCP slows the sender down. true: a pull is
	// answered at once with CodeServiceUnavailable (503) without running
	// its handler, and a push is dropped (logged at WARNING, at most once
	// a second per peer).
	RejectOverload bool
	// StreamWindow is a stream's receive window in bytes: how much of its
	// messages the other side may send before this side reads them
	// (WithStreamWindow and Stream.SetRecvWindow change it per stream).
	// A message may be at most three quarters of the receiver's window.
	// 0: DefaultStreamWindow.
	StreamWindow int
	// StreamWindowMax is how far a stream's receive window grows: a
	// stream whose reader keeps up while its sender waits for credit (the
	// window, not the reader, is what holds the transfer back) doubles
	// its window, up to this. A receiver that then stops reading holds
	// at most this much of the stream's messages. 0: 16 × StreamWindow
	// (4 MiB by default); at most StreamWindow (or negative): no growth.
	// A window set per stream (WithStreamWindow, Stream.SetRecvWindow)
	// does not grow.
	StreamWindowMax int
	// MaxSessionStreams is the most streams the other side of a session
	// may have open at once; an open past it is refused with
	// CodeServiceUnavailable. 0: DefaultMaxSessionStreams; negative: no
	// limit.
	MaxSessionStreams int
	// CloseTimeout bounds how long Close waits for handlers in flight to
	// finish after the drain; past it their contexts are cancelled and
	// the sessions closed anyway. 0: DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// Defaults of PeerConfig's limits, safe for a server open to the internet.
const (
	// DefaultMaxSessions is PeerConfig.MaxSessions when 0 on a system
	// without a limit on open files to derive it from.
	DefaultMaxSessions = 10000
	// DefaultMaxHandshakeFrame is PeerConfig.MaxHandshakeFrame when 0:
	// room for any token or certificate-sized credential.
	DefaultMaxHandshakeFrame = 64 << 10
	// DefaultMaxPendingFrameBytes is PeerConfig.MaxPendingFrameBytes when
	// 0: four frames of the default packet size limit.
	DefaultMaxPendingFrameBytes = 256 << 20
	// DefaultMaxHandshakes is PeerConfig.MaxHandshakes when 0.
	DefaultMaxHandshakes = 1024
	// DefaultMaxSessionHandlers is PeerConfig.MaxSessionHandlers when 0.
	DefaultMaxSessionHandlers = 1024
	// DefaultCloseTimeout is PeerConfig.CloseTimeout when 0.
	DefaultCloseTimeout = 10 * time.Second
	// DefaultHandshakeTimeout is PeerConfig.HandshakeTimeout when 0: as
	// long as net/http gives a TLS handshake, ample for a slow mobile
	// link, short enough that silent connections do not pile up.
	DefaultHandshakeTimeout = 10 * time.Second
)

// validNetworks are the networks a peer can listen on and dial.
var validNetworks = map[string]bool{"tcp": true, "tcp4": true, "tcp6": true, "unix": true, "unixpacket": true}

// check fills in defaults and returns the body codec id, or an error naming
// the bad field.
func (c *PeerConfig) check() (byte, error) {
	if c.Network == "" {
		c.Network = "tcp"
	}
	if !validNetworks[c.Network] {
		return 0, fmt.Errorf("PeerConfig.Network: %q is not one of tcp, tcp4, tcp6, unix, unixpacket", c.Network)
	}
	if (c.TlsCertFile == "") != (c.TlsKeyFile == "") {
		return 0, fmt.Errorf("PeerConfig.TlsCertFile and TlsKeyFile: set both or neither")
	}
	for name, d := range map[string]time.Duration{
		"DefaultReadTimeout":  c.DefaultReadTimeout,
		"DefaultWriteTimeout": c.DefaultWriteTimeout,
		"DefaultDialTimeout":  c.DefaultDialTimeout,
		"SlowCometDuration":   c.SlowCometDuration,
		"CloseTimeout":        c.CloseTimeout,
		"HandshakeTimeout":    c.HandshakeTimeout,
	} {
		if d < 0 {
			return 0, fmt.Errorf("PeerConfig.%s: %v is negative", name, d)
		}
	}
	if c.MaxHandshakeFrame < 0 {
		return 0, fmt.Errorf("PeerConfig.MaxHandshakeFrame: %d is negative", c.MaxHandshakeFrame)
	}
	if c.RedialTimes < 0 {
		return 0, fmt.Errorf("PeerConfig.RedialTimes: %d is negative", c.RedialTimes)
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = defaultMaxSessions(openFileLimit())
	}
	orDefault(&c.MaxSessionHandlers, DefaultMaxSessionHandlers)
	orDefault(&c.MaxSessionStreams, DefaultMaxSessionStreams)
	orDefault(&c.StreamWindow, DefaultStreamWindow)
	c.StreamWindow = min(max(c.StreamWindow, 4*msgCost), maxStreamWindow)
	if c.StreamWindowMax == 0 {
		c.StreamWindowMax = min(16*c.StreamWindow, maxStreamWindow)
	}
	c.StreamWindowMax = min(max(c.StreamWindowMax, c.StreamWindow), maxStreamWindow)
	orDefault(&c.MaxHandshakes, DefaultMaxHandshakes)
	orDefault(&c.MaxHandshakeFrame, DefaultMaxHandshakeFrame)
	orDefault(&c.MaxPendingFrameBytes, DefaultMaxPendingFrameBytes)
	orDefault(&c.CloseTimeout, DefaultCloseTimeout)
	orDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	orDefault(&c.DefaultBodyCodec, codec.NameJSON)
	bc, err := codec.GetByName(c.DefaultBodyCodec)
	if err != nil {
		return 0, fmt.Errorf("PeerConfig.DefaultBodyCodec: %w", err)
	}
	return bc.Id(), nil
}

// defaultMaxSessions derives MaxSessions from the process's limit on open
// files (0: none known): every session holds one descriptor, so the cap
// keeps the process from running out of them, which would fail accepts,
// dials and the program's own files alike, without an arbitrary lower
// ceiling. A twentieth of the limit, 64 at least, is kept back.
func defaultMaxSessions(fileLimit int) int {
	if fileLimit <= 0 {
		return DefaultMaxSessions
	}
	return max(fileLimit-max(fileLimit/20, 64), 1)
}

// orDefault sets *v to def when it is the zero value: a configuration
// field left unset.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
