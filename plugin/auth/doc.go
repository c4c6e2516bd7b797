// Package auth is a teleport plugin pair that makes a client prove itself
// with a token before any of its messages is handled.
//
// The client plugin, added to the dialing peer, sends the token right after
// the connection is made (in PostDial), as a pull of Config.Uri
// ("/auth/token" by default) whose body is the token in the string codec,
// and waits for the answer. The server plugin, added to the accepting peer,
// reads that first packet in PostAccept, before the session's read loop
// starts, and passes the token to a CheckFunc:
//
//	srv := tp.NewPeer(nil, auth.NewServer(func(token string, sess tp.PreSession) *tp.Rerror {
//		user, ok := users[token]
//		if !ok {
//			return auth.Unauthorized("unknown token")
//		}
//		sess.SetId(user) // optional: name the session after its user
//		return nil
//	}, nil))
//	cli := tp.NewPeer(nil, auth.NewClient("secret", nil))
//	sess, rerr := cli.Dial(addr) // rerr.Code == auth.CodeUnauthorized for a bad token
//
// A refused client gets the refusal as a *tp.Rerror with code
// CodeUnauthorized (401) and a Detail naming the problem (unknown token,
// missing token, no token within the timeout); its connection is closed on
// both sides, so the server never counts it among its sessions. A client
// without the plugin is refused too: its first pull is answered with the
// CodeUnauthorized error, and anything after it fails with
// tp.CodeConnClosed.
//
// Config.Timeout (5s by default) bounds the whole handshake on both sides,
// the CheckFunc included: a handshake still running then is ended by closing
// the connection. The session's own read and write timeouts are left as
// they are (and apply to the handshake too, when shorter).
//
// On a dialed session that redials (PeerConfig.RedialTimes), the client
// plugin runs again on each new connection; a handshake that times out then
// closes the session, ending the redial.
//
// The plugins store nothing in the session. A CheckFunc that knows who the
// token belongs to records it itself, with sess.SetId or in sess.Public(),
// where handlers find it later (ctx.Session().Id(), ctx.Public()).
//
// # What an unauthenticated client can cost
//
// Until the CheckFunc admits it, a client has proved nothing, and the
// server bounds what it can spend:
//
//   - Bytes: its token frame is refused on its 4-byte size field past
//     tp.PeerConfig.MaxHandshakeFrame (64 KiB), before any of it is read;
//     the server holds at most that much for it.
//   - Time: Config.Timeout (5 s) ends the handshake, and the peer's own
//     HandshakeTimeout (10 s, from the accept) ends it whatever the plugins
//     do.
//   - Slots: it holds one of the peer's MaxHandshakes slots (1 024), never
//     one of its MaxSessions: the session's slot is taken when the token is
//     accepted (through tp.Admitter), so clients that never send a token
//     cannot lock others out, and a client past MaxSessions hears 503
//     instead of a welcome followed by a closed connection.
//
// With client certificates, tp.TLSConnectionState(sess) in the CheckFunc
// gives the verified chain, to tie the session to its certificate.
//
// Add the auth plugins before any plugin that writes to a session on its own
// (such as plugin/heartbeat): plugins run in the order added, and a packet
// written before the handshake ends would be taken for the answer.
package auth
