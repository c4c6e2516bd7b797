package tp

import (
	"sync/atomic"
	"time"

	"github.com/henrylee2cn/goutil"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/utils"
)

// PullCmd is one pull: what was sent, and once done, the reply or the
// error. It is the WriteCtx of the pull's write hooks.
type PullCmd struct {
	sess    *session
	sock    *sockRef // the connection the pull was written on
	output  socket.Packet
	reply   interface{}
	rerr    *Rerror
	doneCh  chan *PullCmd
	start   int64 // monoNow when the pull began
	cost    time.Duration
	public  goutil.Map
	stopCtx func() bool // stops the context watch, when there is one
	// expireAt is when a balancer's try gives up (monoNow; 0: never),
	// enforced by the balancer's sweepTries.
	expireAt int64
	sent     atomic.Bool // the write of the pull began (see Sent)
	// inputMeta is a copy of the reply's metadata, made only when the
	// reply carried any.
	inputMeta *utils.Args
}

var _ WriteCtx = (*PullCmd)(nil)

// Output returns the pull packet as sent.
func (c *PullCmd) Output() *socket.Packet { return &c.output }

// Result returns the reply object given to Pull and the error, if any.
func (c *PullCmd) Result() (interface{}, *Rerror) { return c.reply, c.rerr }

// Rerror returns the error of the pull, nil on success.
func (c *PullCmd) Rerror() *Rerror { return c.rerr }

// Err returns the error of the pull as an error: nil on success (not a nil
// *Rerror in an error, see Rerror), else the *Rerror.
func (c *PullCmd) Err() error { return c.rerr.ToError() }

// InputMeta returns the metadata of the reply (set by the handler with
// SetMeta), empty when there was none or no reply came.
func (c *PullCmd) InputMeta() *utils.Args {
	if c.inputMeta == nil {
		return new(utils.Args)
	}
	return c.inputMeta
}

// Sent reports whether the write of the pull began. False means the pull
// ended before any byte of it could reach the remote peer (the session was
// closed or draining after a goaway, or a PreWritePull hook refused it), so
// it may be sent elsewhere whatever its route does; true means the remote
// peer may have run it.
func (c *PullCmd) Sent() bool { return c.sent.Load() }

// CostTime returns the time from sending the pull to its end.
func (c *PullCmd) CostTime() time.Duration { return c.cost }

// Peer returns the peer of the session.
func (c *PullCmd) Peer() *Peer {
	if c.sess == nil { // a balancer's pull that found no session
		return nil
	}
	return c.sess.peer
}

// Session returns the session the pull was sent on.
func (c *PullCmd) Session() Session {
	if c.sess == nil {
		return nil
	}
	return c.sess
}

// Ip returns the remote peer's IP address.
func (c *PullCmd) Ip() string {
	if c.sess == nil {
		return ""
	}
	return c.sess.RemoteIp()
}

// Public returns data shared along the pull's handling, made on first use.
func (c *PullCmd) Public() goutil.Map {
	if c.public == nil {
		c.public = goutil.RwMap()
	}
	return c.public
}

// PublicLen returns the number of entries in Public.
func (c *PullCmd) PublicLen() int { return c.Public().Len() }

// end finishes the pull with rerr (nil: success) and delivers it. It is
// called exactly once, by whoever took the pull out of the pending table
// (or never put it there).
func (c *PullCmd) end(rerr *Rerror) {
	c.rerr = rerr
	c.cost = time.Duration(monoNow() - c.start)
	if c.stopCtx != nil {
		c.stopCtx()
	}
	if c.sock != nil {
		c.sess.releaseSock(c.sock)
	}
	c.sess.logPullDone(c)
	if c.doneCh == nil {
		return // the caller of AsyncPull asked for no result
	}
	if cap(c.doneCh) == 0 {
		// An unbuffered channel would block the read loop; deliver
		// from a goroutine of its own.
		go func() { c.doneCh <- c }()
		return
	}
	select {
	case c.doneCh <- c:
	default:
		Errorf("tp: pull %s (seq %d): done channel is full, result dropped", c.output.Uri(), c.output.Seq())
	}
}

// acquireSock returns the connection a new pull is written on, counted in
// its inflight, or nil when the session is draining.
func (s *session) acquireSock() *sockRef {
	for {
		sock := s.sock.Load()
		sock.inflight.Add(1)
		if sock.readerWaits.Load() {
			sock.wakeReader() // a reply may come behind what it waits with
		}
		if !sock.retired.Load() {
			return sock
		}
		s.releaseSock(sock)
		if sock == s.sock.Load() {
			return nil // draining, with no connection to move to
		}
	}
}

// releaseSock ends a pull's use of sock.
func (s *session) releaseSock(sock *sockRef) {
	if sock.inflight.Add(-1) == 0 && sock.retired.Load() {
		s.closeIfDrained(sock)
	}
}
