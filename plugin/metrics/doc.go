// Package metrics is a teleport plugin that counts and times the pulls,
// pushes and sessions of a peer, exposed as a prometheus.Collector.
//
// Usage: make one Plugin per peer, give it to tp.NewPeer (before routes
// are registered: see "Route labels"), and register it with a registry:
//
//	m := metrics.New("myapp")
//	prometheus.MustRegister(m)
//	peer := tp.NewPeer(cfg, m)
//	peer.PullRouter.Reg(new(Math))
//
// # What is measured
//
// "Server" metrics are about the pulls and pushes the peer received, on
// any session, dialed or accepted; "client" metrics about those it sent.
// Codes are the Rerror code of the outcome as a decimal string, "0" for
// success.
//
//	<ns>_server_pulls_total{route,code}             pulls answered
//	<ns>_server_pull_duration_seconds{route,code}   header read to reply written
//	<ns>_server_pushes_total{route}                 pushes decoded, handed to their handler
//	<ns>_server_push_duration_seconds{route}        header read to body decoded
//	<ns>_client_pulls_total{route,code}             pulls ended by a reply or a timeout
//	<ns>_client_pull_duration_seconds{route,code}   PreWritePull to the reply decoded, or to the timeout
//	<ns>_client_pulls_unanswered_total{route}       pulls found without an end when their session closed
//	<ns>_client_pushes_total{route}                 pushes written
//	<ns>_sessions_open                              sessions open now
//	<ns>_sessions_opened_total{side}                sessions opened, side "dial" or "accept"
//	<ns>_sessions_closed_total                      sessions closed
//	<ns>_streams_open{route,side}                   streams open now; side "open" (opened here) or "accept"
//	<ns>_streams_total{route,side,code}             streams ended
//	<ns>_stream_messages_total{route,side,direction} stream messages, direction "sent" or "received"
//	<ns>_stream_bytes_total{route,side,direction}   their body bytes
//
// # What is not counted
//
// The plugin sees only what reaches its hooks, and an error from a hook
// (of any plugin) stops the later ones:
//
//   - a server pull is counted once its reply is written: pulls refused
//     because the peer is closing, and replies whose write failed, are not;
//     pulls to no route, or refused by a hook, are counted with their code;
//   - a server push is counted once its body is decoded: pushes to no
//     route, refused by a hook or with an undecodable body are dropped
//     without a trace; the push duration excludes the handler, since no
//     hook runs after it;
//   - a client pull is observed when its reply body was decoded (the code
//     is the one the reply carries) or, for a pull sent with a context,
//     when that context ends first (code 408, CodeHandleTimeout). A pull
//     that ended otherwise (write failure, connection closed, a reply
//     refused by a read hook or with an undecodable body, or a later
//     PreWritePull hook's error) is counted in
//     client_pulls_unanswered_total when its session closes, without a
//     duration (so is a pull whose context ends just as its session
//     closes, and one whose reply and timeout race may be counted with
//     either code);
//   - a client push is counted once written.
//
// # Route labels
//
// Server route labels are the registered route names the plugin learns
// from the PostReg hook; any other path, including those served by a
// Router.SetUnknown handler, is labelled Unmatched, so that a remote peer
// cannot create series at will. Routes registered before the plugin was
// added are therefore labelled Unmatched too. Client route labels are the
// paths (without query) the caller pulls and pushes.
//
// Add a Plugin to the peer, not to a route or group, and to one peer
// only: its session gauge counts every session it sees.
package metrics
