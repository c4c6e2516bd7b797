package websocket

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"time"

	cws "github.com/coder/websocket"
	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
)

// Config configures NewHandler. The zero value works: it accepts clients
// that send no Origin header (Go and Node.js peers) and browser pages
// served from the host the request was sent to.
type Config struct {
	// OriginPatterns lists the other origins whose pages may connect, as
	// host patterns matched case-insensitively with path.Match:
	// "example.com", "*.example.com", "localhost:8080"; a pattern with a
	// scheme ("https://*.example.com") is matched against scheme://host.
	// "*" allows every origin, which lets any web page act as its
	// visitors, with their cookies: use it only without cookie or
	// address-based authentication. Empty: same origin only.
	//
	// The same-origin rule trusts the request's Host header, which a
	// page can choose through DNS rebinding (a name of the attacker's
	// that resolves to 127.0.0.1): a server bound to loopback or a
	// private address, reached by browsers, should set AllowedOrigins.
	OriginPatterns []string
	// AllowedOrigins, when set, replaces both OriginPatterns and the
	// same-origin rule: a browser request is accepted only when its
	// Origin header is one of these origins exactly, scheme included
	// ("https://app.example.com", "http://localhost:8080"), compared
	// case-insensitively; the Host header plays no part, so DNS
	// rebinding cannot pass it. Requests with no Origin (Go and Node.js
	// peers) are accepted.
	AllowedOrigins []string
}

// handler upgrades requests and hands the connections to a peer.
type handler struct {
	peer      *tp.Peer
	opts      cws.AcceptOptions
	protoFunc []socket.ProtoFunc
	// allowed holds Config.AllowedOrigins, lower-cased; nil: the origin is
	// checked by the WebSocket library (OriginPatterns, same origin).
	allowed map[string]bool
}

// NewHandler returns an http.Handler that upgrades each request to a
// WebSocket and starts a session of peer on it, as Peer.Serve does for a
// connection accepted on a listener: PostAccept hooks, then the read loop,
// with protoFunc (or the default protocol). A request that is not a
// WebSocket upgrade is answered 426 Upgrade Required, one from a foreign
// origin 403 Forbidden, and every request while the peer is not accepting
// (closing, or PeerConfig.MaxSessions reached) 503 Service Unavailable.
// cfg may be nil.
func NewHandler(peer *tp.Peer, cfg *Config, protoFunc ...socket.ProtoFunc) http.Handler {
	if peer == nil {
		panic("websocket: NewHandler: nil peer")
	}
	h := &handler{peer: peer, protoFunc: protoFunc}
	if cfg != nil {
		h.opts.OriginPatterns = append([]string(nil), cfg.OriginPatterns...)
		if len(cfg.AllowedOrigins) > 0 {
			h.allowed = make(map[string]bool, len(cfg.AllowedOrigins))
			for _, o := range cfg.AllowedOrigins {
				h.allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
			}
			h.opts.InsecureSkipVerify = true // checked in ServeHTTP instead
		}
	}
	return h
}

// originAllowed applies AllowedOrigins, when set, to r.
func (h *handler) originAllowed(r *http.Request) bool {
	if h.allowed == nil {
		return true // the WebSocket library checks
	}
	origin := r.Header.Get("Origin")
	return origin == "" || h.allowed[strings.ToLower(origin)]
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.peer.Accepting() {
		// Closing, or MaxSessions reached: refused before the upgrade,
		// so that a client sees a failed connection, not one that opens
		// and closes.
		http.Error(w, "teleport peer is not accepting connections", http.StatusServiceUnavailable)
		return
	}
	if !h.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	hw := &hijackWatch{ResponseWriter: w}
	ws, err := cws.Accept(hw, r, &h.opts)
	if err != nil {
		// Accept has answered the request.
		tp.Debugf("websocket: %s %s from %s: %v", r.Method, r.URL.Path, r.RemoteAddr, err)
		return
	}
	// The http.Server's timeouts may have left deadlines on the
	// connection: from here the session's timeouts rule.
	_ = hw.raw.SetDeadline(time.Time{})
	c := newConn(ws, hw.raw)
	if _, err := h.peer.ServeConn(c, h.protoFunc...); err != nil {
		_ = c.Close()
		tp.Noticef("websocket: refused %s: %v", r.RemoteAddr, err)
	}
}

// hijackWatch keeps the connection that Accept takes over, so that the
// conn can report its addresses and bound its close handshake.
type hijackWatch struct {
	http.ResponseWriter
	raw net.Conn
}

func (h *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.raw = c
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (h *hijackWatch) Unwrap() http.ResponseWriter { return h.ResponseWriter }
