package tp

import "crypto/tls"

// TLSConnectionState returns the TLS state of the connection a session
// runs on, and false when that connection is not TLS (nor a session of
// this package). sess is a PreSession (as a PostAccept or PostDial plugin,
// or an auth CheckFunc, gets it), a Session, a PostSession, or a handler's
// context. The accepted connection's handshake is complete before the
// PostAccept plugins run, so with client certificates (a SetTLSConfig with
// ClientAuth: tls.RequireAndVerifyClientCert) the verified chains name the
// client there, for the session's id or Public data:
//
//	cs, ok := tp.TLSConnectionState(sess)
//	if !ok || len(cs.VerifiedChains) == 0 {
//		return auth.Unauthorized("no client certificate")
//	}
//	sess.SetId(cs.VerifiedChains[0][0].Subject.CommonName)
//
// Over WebSocket the TLS is the http.Server's, and it reports false.
func TLSConnectionState(sess any) (tls.ConnectionState, bool) {
	var s *session
	switch v := sess.(type) {
	case *session:
		s = v
	case interface{ Session() Session }:
		s, _ = v.Session().(*session)
	}
	if s == nil {
		return tls.ConnectionState{}, false
	}
	st, ok := s.handshakeSock().Socket.(interface {
		ConnectionState() (tls.ConnectionState, bool)
	})
	if !ok {
		return tls.ConnectionState{}, false
	}
	return st.ConnectionState()
}
