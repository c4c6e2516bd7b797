// Package heartbeat is a teleport plugin that keeps idle sessions provably
// alive and closes the ones whose other end went silent.
//
//	hb := heartbeat.New(10 * time.Second)
//	peer := tp.NewPeer(nil, hb)
//
// Every interval, the plugin sends a ping on each session of its peer (a
// pull of PingUri, with no body), and it closes a session on which nothing
// at all (pull, push or reply) was read for MaxSilentIntervals (3)
// intervals: a session is closed between 3 and 4 intervals after the last
// packet read on it. Closing the connection closes the session on the
// other side too.
//
// The ping is a pull so that it works when only one side has the plugin:
// the other side answers it like any pull of an unknown route, with
// tp.CodeNotFound, and that answer, read by the pinging side, proves the
// session alive. A peer with the plugin answers pings itself, before
// routing (also with tp.CodeNotFound), so they never reach its handlers,
// its unknown-pull handler included; on a peer without it, an unknown-pull
// handler set with Router.SetUnknown sees the pings. A side without the
// plugin never closes idle sessions, since the pings keep arriving.
//
// The plugin needs nothing registered, and it runs one goroutine per
// plugin, not per session, while it has sessions to watch, plus one per
// ping in flight (at most one per session). The pings go through the
// peer's pull hooks and logs like any pull (logged at INFO by the
// answering side, DEBUG by the pinging side).
//
// A session is closed with Session.Close, which ends it for good: a dialed
// session with PeerConfig.RedialTimes does not redial after it. A session
// that is not ok (Session.IsOk false: redialing, or draining after a
// goaway) is neither pinged nor closed; it is watched again once a redial
// succeeds.
//
// Add the plugin after any plugin that exchanges a handshake in PostDial or
// PostAccept (such as plugin/auth): plugins run in the order added, and a
// ping sent before the handshake ends would be taken for part of it.
package heartbeat
