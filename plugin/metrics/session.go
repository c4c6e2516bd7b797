package metrics

import (
	tp "github.com/teleport-go/teleport"
)

// PostDial counts a session dialed.
func (p *Plugin) PostDial(sess tp.PreSession) *tp.Rerror {
	p.opened(sess, p.dialed)
	return nil
}

// PostAccept counts a session accepted.
func (p *Plugin) PostAccept(sess tp.PreSession) *tp.Rerror {
	p.opened(sess, p.accepted)
	return nil
}

// opened marks sess as counted: PostDisconnect also runs for sessions
// refused by an earlier PostDial or PostAccept hook, which must not lower
// the gauge.
func (p *Plugin) opened(sess tp.PreSession, side interface{ Inc() }) {
	sess.Public().Store(publicKey{p}, struct{}{})
	side.Inc()
	p.sessionsOpen.Inc()
}

// PostDisconnect counts a session closed, and its pulls still pending as
// unanswered.
func (p *Plugin) PostDisconnect(sess tp.PostSession) *tp.Rerror {
	pub := sess.Public()
	if _, ok := pub.Load(publicKey{p}); ok {
		pub.Delete(publicKey{p})
		p.sessionsOpen.Dec()
		p.sessionsClosed.Inc()
	}
	var id any = sess
	p.pending.Range(func(k, _ any) bool {
		if key := k.(pullKey); key.sess == id {
			p.abandon(key)
		}
		return true
	})
	return nil
}
