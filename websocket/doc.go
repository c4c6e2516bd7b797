// Package websocket carries teleport sessions over WebSocket, so that
// browsers and Node.js programs (with the TypeScript client in js/) and Go
// peers behind HTTP infrastructure can be peers.
//
// Serving: NewHandler returns an http.Handler that upgrades each request to
// a WebSocket and hands the connection to a peer, as if the peer had
// accepted it on a listener. Mount it on any path of your own
// http.ServeMux, next to your other routes and next to the peer's TCP
// listeners:
//
//	mux := http.NewServeMux()
//	mux.Handle("/tp", websocket.NewHandler(peer, nil))
//	mux.Handle("/", http.FileServer(http.Dir("static")))
//	hs := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
//	go hs.ListenAndServe() // unfinished upgrades are hs's to time out
//
// Dialing: importing this package registers the "ws" and "wss" schemes
// with the root package (tp.RegDialer), so Peer.Dial and DialContext
// accept WebSocket URLs, and redial them:
//
//	sess, rerr := websocket.Dial(peer, "ws://127.0.0.1:8080/tp")
//	// the same as peer.Dial("ws://127.0.0.1:8080/tp")
//
// # On the wire
//
// A session is one WebSocket connection of binary messages. The messages,
// taken in order, carry the same byte stream a TCP connection would: the
// frames of the peer's protocol (the fast protocol by default, described
// in socket/PROTOCOL.md), so codecs, transfer filters, plugins, timeouts
// and graceful shutdown work as they do over TCP. This package sends each
// whole fast-protocol frame as one message (the TypeScript client does
// too); readers on both sides nonetheless treat the messages as one
// stream, so a message holding several frames, or a frame split across
// messages, is read correctly. The bytes of another protocol go one write
// per message (split at 1 MiB).
//
// # Limits and hostile input
//
// The per-message read limit is PacketSizeLimit (read when the connection
// is made): a longer message closes the session with status 1009 (message
// too big). Messages are read as a stream through the socket's read
// buffer, never into a buffer sized by a declared length, and the frames
// inside are checked as on TCP (a declared frame size above the limit is
// refused before anything is allocated for it). A text message closes the
// session with status 1003 (unsupported data); bytes that are not frames
// close it like any bad frame. Other sessions are not affected. While the
// peer is not accepting (Peer.Accepting: closing, or PeerConfig.MaxSessions
// reached) requests are answered 503 before any upgrade.
//
// # Timeouts, closing, TLS
//
// Read and write timeouts (PeerConfig.DefaultReadTimeout and
// DefaultWriteTimeout, Session.SetReadTimeout, …) apply as on TCP: a read
// or write still blocked at its deadline closes the WebSocket, and with it
// the session. Closing a session sends a close message (status 1000) and
// waits for the other side's for CloseHandshakeWait at most before closing
// the TCP connection. Peer.Close closes the WebSocket sessions with the
// others (goaway, drain, close); http.Server.Shutdown does not see them,
// since an upgraded connection is no longer the server's.
//
// For wss:// the dialing peer uses its TLS configuration (Peer.TLSConfig;
// nil: the system's roots), with the URL's host as the server name; ws://
// is plain text whatever the peer's TLS settings. On the serving side TLS
// is the http.Server's (ListenAndServeTLS): the peer's own TLS settings
// apply to its listeners, not to this handler.
//
// # Browsers
//
// Browsers send an Origin header; NewHandler accepts only pages served
// from the host the request was sent to, unless Config.OriginPatterns
// allows others. Clients that send no Origin (Go, Node.js) are accepted.
// A dialing Go peer connects directly, not through an HTTP proxy.
package websocket
