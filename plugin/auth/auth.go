package auth

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

// CodeUnauthorized is the code of every refusal: a bad or missing token, or
// no token before the timeout.
const CodeUnauthorized int32 = 401

// Defaults of Config.
const (
	// DefaultUri is the URI the token is sent to.
	DefaultUri = "/auth/token"
	// DefaultTimeout bounds the handshake.
	DefaultTimeout = 5 * time.Second
)

// handshakeSeq is the seq of the token pull and of its answer. The
// handshake is over before the read loop starts, so it cannot be taken for
// the seq of a pull of the session.
const handshakeSeq = 0

// Config configures a Client or a Server; its zero value uses the defaults.
// Both ends must agree on Uri.
type Config struct {
	// Uri is the URI of the token pull; "" means DefaultUri.
	Uri string
	// Timeout bounds the handshake, the CheckFunc included: the
	// connection of a handshake still running after it is closed. 0 means
	// DefaultTimeout; a negative Timeout leaves only the session's own
	// read and write timeouts in charge, which may be none.
	Timeout time.Duration
}

func (c *Config) withDefaults() Config {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	if cfg.Uri == "" {
		cfg.Uri = DefaultUri
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return cfg
}

// Unauthorized returns a CodeUnauthorized Rerror with detail, for a
// CheckFunc to refuse a token with.
func Unauthorized(detail string) *tp.Rerror {
	return tp.NewRerror(CodeUnauthorized, "Unauthorized", detail)
}

// watchdog bounds a handshake on sess: unless stopped within d, it closes
// the session, which ends a blocked Send or Receive.
//
// It closes the session rather than setting the session's timeouts for the
// handshake: a connection deadline, once set, outlives the timeout, so
// restoring a timeout of 0 ("none") would leave the session to die at the
// handshake's deadline.
type watchdog struct {
	timer *time.Timer
	// state is 0 while the handshake runs, then stopped or fired.
	state atomic.Int32
}

const (
	running int32 = iota
	stopped
	fired
)

// startWatchdog starts the watchdog of sess; a negative d, or a session
// that cannot be closed, starts none.
func startWatchdog(sess tp.PreSession, d time.Duration) *watchdog {
	closer, ok := sess.(interface{ Close() error })
	if d < 0 || !ok {
		return nil
	}
	w := new(watchdog)
	w.timer = time.AfterFunc(d, func() {
		if w.state.CompareAndSwap(running, fired) {
			closer.Close()
		}
	})
	return w
}

// stop stops the watchdog, if it has not fired, and reports whether it
// fired.
func (w *watchdog) stop() (hasFired bool) {
	if w == nil {
		return false
	}
	w.timer.Stop()
	w.state.CompareAndSwap(running, stopped)
	return w.state.Load() == fired
}

// describeReadErr names why nothing could be read, for a Detail.
func describeReadErr(err error, timedOut bool, timeout time.Duration) string {
	var ne net.Error
	switch {
	case timedOut:
		return fmt.Sprintf("nothing received within %v", timeout)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "nothing received within the session's read timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed"
	}
	return err.Error()
}

// Client is the dialing side's plugin: it sends the token in PostDial.
type Client struct {
	token string
	cfg   Config
}

var _ tp.PostDialPlugin = (*Client)(nil)

// NewClient returns the plugin that sends token on every session its peer
// dials; cfg may be nil for the defaults.
func NewClient(token string, cfg *Config) *Client {
	return &Client{token: token, cfg: cfg.withDefaults()}
}

// Name returns "auth-client".
func (c *Client) Name() string { return "auth-client" }

// PostDial sends the token and waits for the server's answer. It returns
// the server's refusal as it came (CodeUnauthorized from a Server; a server
// without the plugin answers tp.CodeNotFound), or a tp.CodeDialFailed
// Rerror when the exchange itself fails or times out, so Dial fails and
// closes the connection.
func (c *Client) PostDial(sess tp.PreSession) *tp.Rerror {
	w := startWatchdog(sess, c.cfg.Timeout)
	out := socket.NewPacket(
		socket.WithSeq(handshakeSeq),
		socket.WithPtype(tp.TypePull),
		socket.WithUri(c.cfg.Uri),
		socket.WithBody(c.token),
		socket.WithBodyCodec(codec.IdString),
	)
	if err := sess.Send(out); err != nil {
		if w.stop() {
			return dialFailed(fmt.Sprintf("the token could not be sent within %v", c.cfg.Timeout))
		}
		return dialFailed("send the token: " + err.Error())
	}
	// The answer carries its verdict in the metadata; any body is dropped.
	in := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return nil }))
	err := sess.Receive(in)
	if timedOut := w.stop(); timedOut || err != nil {
		return dialFailed("no answer to the token: " + describeReadErr(err, timedOut, c.cfg.Timeout))
	}
	if in.Ptype() != tp.TypeReply || in.Seq() != handshakeSeq {
		return dialFailed(fmt.Sprintf("expected the answer to the token (a reply with seq %d), got a packet of type %d, seq %d, uri %q",
			handshakeSeq, in.Ptype(), in.Seq(), in.Uri()))
	}
	return tp.NewRerrorFromMeta(in.Meta())
}

func dialFailed(detail string) *tp.Rerror {
	return tp.NewRerror(tp.CodeDialFailed, "Dial Failed", "auth: "+detail)
}

// CheckFunc decides whether token admits the session: nil admits it, a
// Rerror (Unauthorized, or any other) refuses it and is sent to the client.
// It runs before the session's read loop, so it may set the session's id or
// store data in sess.Public() for the handlers.
type CheckFunc func(token string, sess tp.PreSession) *tp.Rerror

// Server is the accepting side's plugin: it checks the token in PostAccept.
type Server struct {
	check CheckFunc
	cfg   Config
}

var _ tp.PostAcceptPlugin = (*Server)(nil)

// NewServer returns the plugin that admits a session only once check
// accepts its token; cfg may be nil for the defaults. A nil check panics.
func NewServer(check CheckFunc, cfg *Config) *Server {
	if check == nil {
		panic("auth: NewServer: nil CheckFunc")
	}
	return &Server{check: check, cfg: cfg.withDefaults()}
}

// Name returns "auth-server".
func (s *Server) Name() string { return "auth-server" }

// PostAccept reads the first packet within the timeout, checks the token it
// carries, and answers it. It returns nil when the token is accepted, and
// otherwise the refusal, which closes the session: CodeUnauthorized when the
// first packet is not a token pull, the token is empty or unreadable,
// nothing arrived in time, or the CheckFunc's own Rerror.
func (s *Server) PostAccept(sess tp.PreSession) *tp.Rerror {
	w := startWatchdog(sess, s.cfg.Timeout)
	var token string
	in := socket.NewPacket(socket.WithNewBody(func(h socket.Header) interface{} {
		if s.isTokenPull(h) {
			return &token
		}
		return nil // not a token: drop the body unread
	}))
	err := sess.Receive(in)
	if err != nil && !socket.IsBodyError(err) {
		return Unauthorized("no token: " + describeReadErr(err, w.stop(), s.cfg.Timeout))
	}
	var rerr *tp.Rerror
	switch {
	case !s.isTokenPull(in):
		rerr = Unauthorized(fmt.Sprintf("missing token: the first packet must be a pull of %s, got a packet of type %d to %q",
			s.cfg.Uri, in.Ptype(), in.Uri()))
	case err != nil:
		rerr = Unauthorized("unreadable token: " + err.Error())
	case token == "":
		rerr = Unauthorized("empty token")
	default:
		rerr = s.check(token, sess)
	}
	if rerr == nil {
		// Take the session's slot now, before telling the client it is
		// in: past MaxSessions it hears 503 rather than a yes followed
		// by a closed connection.
		if a, ok := sess.(tp.Admitter); ok {
			rerr = a.Admit()
		}
	}
	if in.Ptype() == tp.TypePull {
		answer := socket.NewPacket(
			socket.WithSeq(in.Seq()),
			socket.WithPtype(tp.TypeReply),
			socket.WithUri(in.Uri()),
		)
		rerr.SetToMeta(answer.Meta())
		err = sess.Send(answer)
	} // else nobody waits for an answer
	timedOut := w.stop()
	switch {
	case rerr != nil:
		return rerr
	case timedOut:
		return Unauthorized(fmt.Sprintf("the handshake did not finish within %v", s.cfg.Timeout))
	case err != nil:
		return tp.NewRerror(tp.CodeWriteFailed, "Write Failed", "auth: send the answer to the token: "+err.Error())
	}
	return nil
}

func (s *Server) isTokenPull(h socket.Header) bool {
	return h.Ptype() == tp.TypePull && h.Uri() == s.cfg.Uri
}
