package tp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/henrylee2cn/goutil/graceful/inherit_net"
	pkgerrors "github.com/pkg/errors"
	"github.com/teleport-go/teleport/internal/netpoll"
	"github.com/teleport-go/teleport/internal/seqpacket"
	"github.com/teleport-go/teleport/socket"
)

// Peer is a communication endpoint, server and client at once: the same
// routers serve the pulls and pushes arriving on sessions it accepted and on
// sessions it dialed.
type Peer struct {
	// PullRouter routes incoming pulls.
	PullRouter *Router
	// PushRouter routes incoming pushes.
	PushRouter *Router
	// StreamRouter routes the streams the other side opens (see
	// Session.OpenStream).
	StreamRouter *Router

	// ctx is the parent of every handler's context, cancelled when Close
	// gives up waiting for handlers, or returns.
	ctx       context.Context
	cancelCtx context.CancelFunc

	cfg              PeerConfig
	defaultBodyCodec byte
	plugins          *pluginContainer
	tlsConfig        atomic.Pointer[tls.Config]
	sessions         sessionTable
	ctxPool          sync.Pool

	// handling counts the pulls and pushes being handled, for Close.
	handling atomic.Int64
	// frameBudget bounds the frames being read on all the peer's
	// connections (MaxPendingFrameBytes); nil: no bound.
	frameBudget *socket.FrameBudget
	// handshakes counts the accepted connections in their handshake (see
	// accept.go), for MaxHandshakes.
	handshakes atomic.Int64
	refusedLog logEvery
	// readLoops counts running read loops and serve loops, for Close.
	readLoops sync.WaitGroup
	closing   atomic.Bool // Close has begun: no more dials or accepts
	preClose  sync.Once   // runs the PreClose hooks
	rejecting atomic.Bool // the drain is over: new pulls are refused

	// poller is where idle sessions wait (see park), started on first
	// use; pollMu guards its start and its end, and pollDone is set once
	// there can be none.
	poller   atomic.Pointer[netpoll.Poller]
	pollMu   sync.Mutex
	pollDone bool

	// mu guards the fields below.
	mu           sync.Mutex
	listeners    map[net.Listener]struct{} // as served, maybe TLS-wrapped
	rawListeners map[net.Listener]struct{} // as opened, for a reboot to hand on
	closed       bool
}

// NewPeer returns a peer configured by cfg (nil: the zero PeerConfig) with
// plugin added. An invalid configuration field or plugin panics, naming it:
// both are programming mistakes found at start-up.
func NewPeer(cfg *PeerConfig, plugin ...Plugin) *Peer {
	p := &Peer{listeners: map[net.Listener]struct{}{}, rawListeners: map[net.Listener]struct{}{}}
	p.ctx, p.cancelCtx = context.WithCancel(context.Background())
	if cfg != nil {
		p.cfg = *cfg
		p.cfg.ListenAddrs = append([]string(nil), cfg.ListenAddrs...)
	}
	var err error
	if p.defaultBodyCodec, err = p.cfg.check(); err != nil {
		panic("tp: NewPeer: " + err.Error())
	}
	if p.plugins, err = newPluginContainer(plugin...); err != nil {
		panic("tp: NewPeer: " + err.Error())
	}
	if p.cfg.TlsCertFile != "" {
		cert, err := tls.LoadX509KeyPair(p.cfg.TlsCertFile, p.cfg.TlsKeyFile)
		if err != nil {
			panic(fmt.Sprintf("tp: NewPeer: PeerConfig.TlsCertFile/TlsKeyFile: %v", err))
		}
		p.tlsConfig.Store(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	p.frameBudget = socket.NewFrameBudget(p.cfg.MaxPendingFrameBytes)
	p.PullRouter = newRouter(p, TypePull)
	p.PushRouter = newRouter(p, TypePush)
	p.StreamRouter = newRouter(p, TypeStreamOpen)
	p.ctxPool.New = func() any { return newHandlerCtx() }
	registerPeer(p)
	return p
}

// PluginContainer returns the peer's plugins, run for every session.
func (p *Peer) PluginContainer() PluginContainer { return p.plugins }

// SetTLSConfig makes the peer use TLS with cfg for listeners opened and
// connections dialed from now on; nil turns TLS off.
func (p *Peer) SetTLSConfig(cfg *tls.Config) { p.tlsConfig.Store(cfg) }

// TLSConfig returns the TLS configuration in use, or nil.
func (p *Peer) TLSConfig() *tls.Config { return p.tlsConfig.Load() }

// getCtx returns a pooled handlerCtx for a message on s. Every context
// enters the pool through putCtx, which resets it, or new.
func (p *Peer) getCtx(s *session) *handlerCtx {
	c := p.ctxPool.Get().(*handlerCtx)
	c.sess = s
	return c
}

// putCtx resets c, dropping what it refers to, and pools it.
func (p *Peer) putCtx(c *handlerCtx) {
	// A context a hook asked for, of a message refused before its
	// handler ran, ends here: nothing else would take it out of the
	// session's cancel table.
	c.endContext()
	c.reset(nil)
	p.ctxPool.Put(c)
}

// Dial connects to addr and starts a session on it.
func (p *Peer) Dial(addr string, protoFunc ...socket.ProtoFunc) (Session, *Rerror) {
	return p.DialContext(context.Background(), addr, protoFunc...)
}

// DialContext is Dial bounded by ctx as well as DefaultDialTimeout.
func (p *Peer) DialContext(ctx context.Context, addr string, protoFunc ...socket.ProtoFunc) (Session, *Rerror) {
	if p.closing.Load() {
		return nil, rerrDialFailed.withDetail("dial " + addr + ": peer is closed")
	}
	conn, err := p.dialConn(ctx, addr)
	if err != nil {
		return nil, rerrDialFailed.wrap(err, "")
	}
	s := newSession(p, conn, protoFunc)
	s.dial = &dialInfo{addr: addr, protoFunc: protoFunc}
	if rerr := runHooks("PostDial", p.plugins.get().postDial, PreSession(s), PostDialPlugin.PostDial); rerr != nil {
		s.closeBy(fmt.Errorf("PostDial: %s", rerr))
		return nil, rerr
	}
	if err := p.startSession(s, 0); err != nil {
		return nil, rerrDialFailed.wrap(err, "")
	}
	Debugf("tp: dialed %s (session %s)", addr, s.Id())
	return s, nil
}

// dialConn connects, and does the TLS handshake when configured, within
// DefaultDialTimeout for both.
func (p *Peer) dialConn(ctx context.Context, addr string) (net.Conn, error) {
	if d := p.cfg.DefaultDialTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if dial := dialerFor(addr); dial != nil {
		return dial(ctx, p, addr) // a transport of its own, such as WebSocket
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, p.cfg.Network, addr)
	if err != nil {
		return nil, err
	}
	conn = seqpacket.Wrap(conn)
	if tlsCfg := p.tlsConfig.Load(); tlsCfg != nil {
		if tlsCfg.ServerName == "" && !tlsCfg.InsecureSkipVerify {
			// As tls.Dial does: verify the certificate against the
			// host dialed.
			tlsCfg = tlsCfg.Clone()
			tlsCfg.ServerName = addr
			if host, _, err := net.SplitHostPort(addr); err == nil {
				tlsCfg.ServerName = host
			}
		}
		tc := tls.Client(conn, tlsCfg)
		hctx, cancel := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, pkgerrors.Wrapf(err, "tls handshake with %s", addr)
		}
		conn = tc
	}
	return conn, nil
}

// addReadLoop counts a read loop about to start, unless the peer is closed.
func (p *Peer) addReadLoop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.readLoops.Add(1)
	return true
}

// startSession adds s to the table, if it holds fewer than limit sessions
// (limit <= 0: whatever it holds), and starts its read loop; it fails once
// the peer is closing, or past limit.
func (p *Peer) startSession(s *session, limit int) error {
	if !p.addReadLoop() {
		s.closeBy(errors.New("peer is closed"))
		return errors.New("tp: peer is closed")
	}
	if !s.admitted.Load() && !p.sessions.addBelow(s, limit) {
		p.readLoops.Done()
		err := fmt.Errorf("tp: %d sessions open, the most PeerConfig.MaxSessions allows", limit)
		s.closeBy(err)
		return err
	}
	s.sock.Load().handshaking(p, false)
	s.started.Store(true)
	s.startReading(s.sock.Load())
	return nil
}

// ServeConn starts a session on an accepted connection: its handshake (a
// TLS one for a *tls.Conn, then the PostAccept hooks) within
// HandshakeTimeout and MaxHandshakes, then the read loop, within
// MaxSessions. It returns once the session is running, or the error that
// refused it (the connection is closed then).
func (p *Peer) ServeConn(conn net.Conn, protoFunc ...socket.ProtoFunc) (Session, error) {
	return p.serveConn(conn, protoFunc)
}

// Listen serves every PeerConfig.ListenAddrs entry and blocks until Close.
// When an address cannot be bound, the listeners opened so far are closed
// and the error returned.
func (p *Peer) Listen(protoFunc ...socket.ProtoFunc) error {
	if len(p.cfg.ListenAddrs) == 0 {
		return errors.New("tp: Listen: PeerConfig.ListenAddrs is empty")
	}
	var lis []net.Listener
	for _, addr := range p.cfg.ListenAddrs {
		// A rebooted process finds its listeners among those it inherited.
		l, err := inherit_net.Listen(p.cfg.Network, addr)
		if err != nil {
			for _, l := range lis {
				l.Close()
			}
			return pkgerrors.Wrapf(err, "tp: Listen %s %s", p.cfg.Network, addr)
		}
		lis = append(lis, l)
	}
	errCh := make(chan error, len(lis))
	for _, l := range lis {
		go func() { errCh <- p.Serve(l, protoFunc...) }()
	}
	var first error
	for range lis {
		if err := <-errCh; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Serve accepts connections on lis, and starts a session on each, until
// Close. It closes lis when it returns.
func (p *Peer) Serve(lis net.Listener, protoFunc ...socket.ProtoFunc) error {
	raw := lis
	if tlsCfg := p.tlsConfig.Load(); tlsCfg != nil {
		lis = tls.NewListener(seqpacket.Listener{Listener: lis}, tlsCfg)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		lis.Close()
		return nil
	}
	p.listeners[lis] = struct{}{}
	p.rawListeners[raw] = struct{}{}
	p.readLoops.Add(1)
	p.mu.Unlock()
	defer p.readLoops.Done()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, lis)
		delete(p.rawListeners, raw)
		p.mu.Unlock()
		lis.Close()
	}()
	Printf("tp: listening on %s %s", lis.Addr().Network(), lis.Addr())
	runHooks("PostListen", p.plugins.get().postListen, lis.Addr(), func(h PostListenPlugin, a net.Addr) *Rerror { return h.PostListen(p, a) })
	var delay time.Duration
	for {
		conn, err := lis.Accept()
		if err != nil {
			if p.closing.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				Warnf("tp: accept on %s: %v; retrying in %v", lis.Addr(), err, delay)
				time.Sleep(delay)
				continue
			}
			return pkgerrors.Wrapf(err, "tp: accept on %s", lis.Addr())
		}
		delay = 0
		if p.full() {
			conn.Close()
			if p.refusedLog.allow() {
				Noticef("tp: refused %s on %s: %d sessions open (MaxSessions %d), %d connections in their handshake (MaxHandshakes %d) (at most one such line a second)",
					conn.RemoteAddr(), lis.Addr(), p.sessions.len(), p.cfg.MaxSessions, p.handshakes.Load(), p.cfg.MaxHandshakes)
			}
			continue
		}
		go func() {
			if _, err := p.serveConn(conn, protoFunc); err != nil && p.refusedLog.allow() {
				Noticef("tp: refused %s: %v (at most one such line a second)", conn.RemoteAddr(), err)
			}
		}()
	}
}

// isTemporary reports accept errors worth retrying, like running out of
// file descriptors.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Addrs returns the addresses being served now.
func (p *Peer) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := make([]net.Addr, 0, len(p.listeners))
	for l := range p.listeners {
		addrs = append(addrs, l.Addr())
	}
	return addrs
}

// GetSession returns the session with id sessionId.
func (p *Peer) GetSession(sessionId string) (Session, bool) {
	s := p.sessions.get(sessionId)
	return s, s != nil
}

// RangeSession calls fn for each session until fn returns false.
func (p *Peer) RangeSession(fn func(sess Session) bool) {
	for _, s := range p.sessions.all() {
		if !fn(s) {
			return
		}
	}
}

// CountSession returns the number of open sessions.
func (p *Peer) CountSession() int { return p.sessions.len() }

// closeWriteGrace is how long, once Close has waited for remote peers to
// leave, a write may stay blocked before its session is given up.
const closeWriteGrace = time.Second

// Close stops listening and tells every remote peer it is closing (a
// goaway); while they move away or finish, it goes on serving them, for
// DefaultCloseDrain at most. Then it answers new pulls with
// CodeServiceUnavailable (503: retry elsewhere),
// lets the handlers in flight finish and write their replies, for
// PeerConfig.CloseTimeout at most, closes every session and waits for
// their read loops to end. So it returns within DefaultCloseDrain plus
// CloseTimeout plus a second for writes still blocked on peers that do not
// read, whatever the handlers do.
func (p *Peer) Close() error {
	return p.close(DefaultCloseDrain, p.cfg.CloseTimeout)
}

// close is Close with the drain bounded by drain and the wait for handlers
// after it by wait.
func (p *Peer) close(drain, wait time.Duration) error {
	p.preClose.Do(func() { runHooks("PreClose", p.plugins.get().preClose, p, PreClosePlugin.PreClose) })
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.closing.Store(true)
	var errs []error
	for l := range p.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	p.mu.Unlock()

	start := time.Now()
	// A remote peer that stopped reading would keep every write to it,
	// the goaway and the handlers' replies, blocked forever: writes still
	// blocked closeWriteGrace after the drain fail, closing that session.
	// The goaways go out on their own goroutines, so that one such peer
	// cannot hold up the others' (or Close).
	writeDeadline := start.Add(drain + closeWriteGrace)
	var goaways sync.WaitGroup
	for _, s := range p.sessions.all() {
		_ = s.sock.Load().SetWriteDeadline(writeDeadline)
		goaways.Add(1)
		go func() {
			defer goaways.Done()
			s.sendGoaway()
		}()
	}
	for p.sessions.len() > 0 && time.Since(start) < drain {
		time.Sleep(2 * time.Millisecond)
	}
	p.rejecting.Store(true)
	waitEnd := time.Now().Add(wait)
	for p.handling.Load() > 0 && time.Now().Before(waitEnd) {
		time.Sleep(2 * time.Millisecond)
	}
	if n := p.handling.Load(); n > 0 {
		Warnf("tp: close: gave up waiting for %d handlers after %v; their contexts are cancelled", n, wait)
	}
	p.cancelCtx()
	for _, s := range p.sessions.all() {
		s.closeBy(nil)
	}
	goaways.Wait()
	p.readLoops.Wait()
	p.closeReadPoller()
	unregisterPeer(p)
	return errors.Join(errs...)
}
