package tp

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/henrylee2cn/goutil"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/internal/lazymap"
	"github.com/teleport-go/teleport/internal/netpoll"
	"github.com/teleport-go/teleport/socket"
)

type (
	// PreSession is a session before its read loop starts, as given to
	// the PostDial and PostAccept hooks: Send and Receive exchange raw
	// packets for a handshake.
	PreSession interface {
		// Id returns the session id, the remote address unless set.
		Id() string
		// SetId sets the session id, re-keying it in the peer's table.
		SetId(string)
		// Peer returns the peer the session belongs to.
		Peer() *Peer
		// RemoteIp returns the remote peer's IP address.
		RemoteIp() string
		// LocalIp returns this side's IP address.
		LocalIp() string
		// ReadTimeout returns how long a frame may take to arrive (0: no limit).
		ReadTimeout() time.Duration
		// WriteTimeout returns how long a write may stay blocked (0: no limit).
		WriteTimeout() time.Duration
		// SetReadTimeout sets ReadTimeout, from the next frame on.
		SetReadTimeout(time.Duration)
		// SetWriteTimeout sets WriteTimeout, from the next write on.
		SetWriteTimeout(time.Duration)
		// Public returns data kept with the session, for plugins and handlers.
		Public() goutil.Map
		// PublicLen returns the number of entries in Public.
		PublicLen() int
		// Send writes packet as it is.
		Send(packet *socket.Packet) error
		// Receive reads the next packet into packet.
		Receive(packet *socket.Packet) error
	}

	// Session is a connection to another peer, dialed or accepted.
	Session interface {
		// SetId sets the id, re-keying the session in the peer's table.
		SetId(newId string)
		// Close closes the session; waiting pulls end with CodeConnClosed.
		Close() error
		// Id returns the id, the remote address unless set.
		Id() string
		// IsOk reports whether the session is open.
		IsOk() bool
		// Peer returns the peer the session belongs to.
		Peer() *Peer
		// AsyncPull sends a pull and delivers the finished PullCmd on
		// done, which should be buffered: an unbuffered one is sent to
		// from a goroutine of its own, and a full one drops the result
		// (logged at ERROR). A nil done asks for no result: the pull is
		// sent and its end only logged. args of type []byte or *[]byte
		// use the string codec; the reply comes in the codec the handler
		// chose (the pull's, unless it set another). A
		// socket.WithContext setting bounds the pull, and its deadline
		// travels to the handler.
		AsyncPull(uri string, args interface{}, reply interface{}, done chan *PullCmd, setting ...socket.PacketSetting)
		// Pull sends a pull and waits for its end; reply receives the
		// decoded reply body. Test the result's Err() (nil on success)
		// or Rerror(); see Call for a typed form.
		Pull(uri string, args interface{}, reply interface{}, setting ...socket.PacketSetting) *PullCmd
		// Push sends a push. It returns once the push is handed to the
		// connection, queued behind other frames or written: nil means
		// neither that it arrived nor that it was handled. A write that
		// then fails closes the session (or redials it). The remote peer
		// logs a push to a route it does not have at WARNING. The result
		// is a *Rerror: compare it with nil, or use ToError, before
		// putting it in an error variable (see Rerror).
		Push(uri string, args interface{}, setting ...socket.PacketSetting) *Rerror
		// OpenStream opens a stream to uri, a route of the other side's
		// StreamRouter. It returns once the open is written: a refusal
		// (no such route, CodeNotFound; too many streams,
		// CodeServiceUnavailable) ends the stream, and Recv, Send and
		// Header return it. args, when not nil, is the handler's
		// argument. socket.WithContext bounds the
		// whole stream and its deadline travels to the handler;
		// socket.WithSetMeta adds metadata; WithStreamWindow sets this
		// side's receive window; the codec of args (or
		// socket.WithBodyCodec) is the codec of the messages. The other
		// side must be a peer of this package (CodeNotImplemented
		// otherwise). Close the stream, or cancel its context, when
		// done with it.
		OpenStream(uri string, args interface{}, setting ...socket.PacketSetting) (Stream, *Rerror)
		// ReadTimeout returns how long a frame may take to arrive (0: no limit).
		ReadTimeout() time.Duration
		// WriteTimeout returns how long a write may stay blocked (0: no limit).
		WriteTimeout() time.Duration
		// SetReadTimeout sets ReadTimeout, from the next frame on.
		SetReadTimeout(time.Duration)
		// SetWriteTimeout sets WriteTimeout, from the next write on.
		SetWriteTimeout(time.Duration)
		// RemoteIp returns the remote peer's IP address.
		RemoteIp() string
		// LocalIp returns this side's IP address.
		LocalIp() string
		// RemoteAddr returns the remote peer's address.
		RemoteAddr() net.Addr
		// LocalAddr returns this side's address.
		LocalAddr() net.Addr
		// Public returns data kept with the session, for plugins and handlers.
		Public() goutil.Map
		// PublicLen returns the number of entries in Public.
		PublicLen() int
	}

	// PostSession is a closed session, as given to PostDisconnect.
	PostSession interface {
		// Id returns the session id, the remote address unless set.
		Id() string
		// Peer returns the peer the session belongs to.
		Peer() *Peer
		// RemoteIp returns the remote peer's IP address.
		RemoteIp() string
		// LocalIp returns this side's IP address.
		LocalIp() string
		// Public returns data kept with the session, for plugins and handlers.
		Public() goutil.Map
		// PublicLen returns the number of entries in Public.
		PublicLen() int
	}
)

// MaxSessionHandlers is the default bound on the handlers running at once
// for the messages of one session.
//
// Deprecated: use PeerConfig.MaxSessionHandlers and its default,
// DefaultMaxSessionHandlers.
const MaxSessionHandlers = DefaultMaxSessionHandlers

// errSessionClosed is what writing on a closed session returns.
var errSessionClosed = errors.New("tp: session is closed")

type session struct {
	peer    *Peer
	sock    atomic.Pointer[sockRef] // replaced when a redial succeeds
	public  lazymap.Map
	seq     atomic.Uint64
	pending pendingTable

	// id is the id set by SetId; nil means the remote address.
	id atomic.Pointer[string]
	// tableKey is the id the peer's session table indexes it under; the
	// table's lock guards it.
	tableKey string

	// dial is set for dialed sessions, which can redial.
	dial *dialInfo
	// lc owns the session's connections, and lcState is its state (a
	// connState); see lifecycle.go.
	lc      connOwner
	lcState atomic.Int32
	// draining is set once the session has drained, or drains, after a
	// goaway it could not move away from or the remote peer's end of its
	// stream: it went away in good order.
	draining atomic.Bool
	// handshaking is the dialer's new connection while its PostDial hooks
	// run.
	handshaking atomic.Pointer[sockRef]

	readTimeout  atomic.Int64 // time.Duration; 0: none
	writeTimeout atomic.Int64 // time.Duration; 0: none

	started   atomic.Bool // its read loop started
	admitted  atomic.Bool // in the session table before its start (Admit)
	closed    atomic.Bool
	closeOnce sync.Once
	// closeCh is closed once the session is; made on first use (see
	// closedCh), since an idle session never waits on it.
	closeCh       atomic.Pointer[chan struct{}]
	closeChClosed atomic.Bool

	// calls holds what handlers' contexts need, made on first use (see
	// callState): most sessions' handlers never ask for one.
	calls atomic.Pointer[callState]
	// ctxDone is set when the session's context is to be cancelled,
	// whether or not it was made yet.
	ctxDone atomic.Bool
	// strm holds the session's streams, made on first use (see
	// stream.go).
	strm atomic.Pointer[streamTable]
}

// dialed reports whether this side dialed the session.
func (s *session) dialed() bool { return s.dial != nil }

// sockRef is one connection of a session, with the facts read off it once.
type sockRef struct {
	socket.Socket
	// lingerOK says that a read of the connection may time out and go
	// on: its busy reader may wait with a deadline (see linger).
	lingerOK bool
	// ips holds the remote and local IP addresses as text, made on first
	// use.
	ips atomic.Pointer[[2]string]
	// inflight counts the pulls written on this connection and not ended.
	inflight atomic.Int64
	// handling counts the pulls and pushes read on this connection whose
	// handlers have not finished (and replied).
	handling atomic.Int64
	// streams counts the streams the other side opened on this
	// connection that have not ended (ours count in inflight).
	streams atomic.Int64
	// retired is set when a goaway moved the session elsewhere: the
	// connection closes once its pulls in flight have ended.
	retired atomic.Bool
	// capsSent is set once a pull, a reply or a notice on this connection
	// has told the remote peer what this one understands (see caps.go);
	// caps is what is known of the remote peer's.
	capsSent atomic.Bool
	caps     connCaps
	// readEOF is set when the remote peer closed its side of the
	// connection: the session closes once the handlers of what it sent
	// have replied.
	readEOF atomic.Bool
	// slotFreed wakes the reader waiting for one of the connection's
	// handlers to finish (MaxSessionHandlers), or for a pull of ours to
	// start, when readerWaits; made the first time the reader waits,
	// never closed. overflow holds the messages waiting for a slot, made
	// the first time one waits. See handlerslots.go.
	slotFreed   atomic.Pointer[chan struct{}]
	readerWaits atomic.Bool
	overflow    atomic.Pointer[handlerQueue]
	// readDeadline records that a read deadline is set, so that one left
	// by an earlier timeout is cleared when it becomes 0.
	readDeadline atomic.Bool

	// parkState is where the connection's reading is (see park): running
	// on a goroutine, being parked, parked in the peer's poller with no
	// goroutine at all, or woken while being parked.
	parkState atomic.Int32
	// watch is the connection's registration with the peer's poller.
	watch netpoll.Watch
	// resume reads on after the poller found bytes (or the end) on the
	// parked connection, and wakeFn is wake for the poller; both are set
	// on the first park, before parkState leaves readRunning.
	resume func()
	wakeFn func()
	// idleTimer ends a parked wait at the session's read timeout (see
	// expire), idleDeadline being when (monoNow); timedOut tells resume
	// that it did. idleTimer is made on the first park with a timeout.
	idleTimer    *time.Timer
	idleDeadline atomic.Int64
	timedOut     atomic.Bool

	// lastBatch is when the last batch of frames began to be read
	// (monoNow), gapAvg the average gap between batches; owned by the
	// reader (see lingerFor).
	lastBatch int64
	gapAvg    int64

	// busy hands the reading of sock from its read loop to a goroutine
	// of the read pool and back (see readBusy); made on first use, as
	// only connections that cannot park have a read loop.
	busy *busyRead
}

// Close closes the connection. One parked in the poller is woken to read
// the end of it, as a goroutine blocked on it would.
func (s *sockRef) Close() error {
	err := s.Socket.Close()
	if s.parkState.Load() != readRunning {
		s.wake()
	}
	return err
}

// setReadDeadline applies timeout d (0: none) to the next read.
func (s *sockRef) setReadDeadline(d time.Duration) {
	if d > 0 {
		_ = s.SetReadDeadline(time.Now().Add(d))
		s.readDeadline.Store(true)
	} else if s.readDeadline.Swap(false) {
		_ = s.SetReadDeadline(time.Time{})
	}
}

// ipAddrs returns the remote and local IP addresses of the connection.
func (s *sockRef) ipAddrs() *[2]string {
	if ips := s.ips.Load(); ips != nil {
		return ips
	}
	ips := &[2]string{addrIp(s.RemoteAddr()), addrIp(s.LocalAddr())}
	s.ips.Store(ips)
	return ips
}

// fill blocks until more bytes have arrived, reading all that arrived
// into a pooled buffer (see socket's Fill); a Socket of another make is
// read at once.
func (s *sockRef) fill() error {
	if f, ok := s.Socket.(interface{ Fill() error }); ok {
		return f.Fill()
	}
	return nil
}

// buffered returns how many bytes can be read without a system call (0
// for a Socket of another make).
func (s *sockRef) buffered() int {
	if b, ok := s.Socket.(interface{ Buffered() int }); ok {
		return b.Buffered()
	}
	return 0
}

// readWaiter is how the socket package's sockets wait for the next frame
// without holding a read buffer.
type readWaiter interface{ WaitRead() error }

// waitRead blocks until the next frame begins to arrive; a Socket of
// another make is read at once.
func (s *sockRef) waitRead() error {
	if w, ok := s.Socket.(readWaiter); ok {
		return w.WaitRead()
	}
	return nil
}

// readLimiter and budgeted are how the socket package's sockets bound
// the frames they read (see socket's SetReadLimit and SetFrameBudget).
type (
	readLimiter interface{ SetReadLimit(uint32) }
	budgeted    interface{ SetFrameBudget(*socket.FrameBudget) }
)

// handshaking bounds the frames read on the connection to the peer's
// MaxHandshakeFrame while on, to the packet size limit once off.
func (s *sockRef) handshaking(p *Peer, on bool) {
	if l, ok := s.Socket.(readLimiter); ok {
		n := uint32(0)
		if on {
			n = uint32(p.cfg.MaxHandshakeFrame)
		}
		l.SetReadLimit(n)
	}
}

// writeTimeouter is how the socket package's sockets bound how long a
// write stays blocked.
type writeTimeouter interface{ SetWriteTimeout(time.Duration) }

// setWriteTimeout fails a write on the connection that stays blocked for d
// (0: never), counted from its start or its last progress, not from when
// its frames were queued (see socket's SetWriteTimeout).
func (s *sockRef) setWriteTimeout(d time.Duration) {
	if wt, ok := s.Socket.(writeTimeouter); ok {
		wt.SetWriteTimeout(d)
	}
}

func newSockRef(conn net.Conn, protoFunc []socket.ProtoFunc, writeTimeout time.Duration) *sockRef {
	s := &sockRef{
		Socket: socket.NewSocket(conn, protoFunc...),
	}
	s.setWriteTimeout(writeTimeout)
	if rt, ok := s.Socket.(interface{ ReadTimeoutSafe() bool }); ok {
		s.lingerOK = rt.ReadTimeoutSafe()
	}
	return s
}

// newSockRef is newSockRef for a connection of p: its frames count in the
// peer's frame budget, and it starts in its handshake.
func (p *Peer) newSockRef(conn net.Conn, protoFunc []socket.ProtoFunc, writeTimeout time.Duration) *sockRef {
	s := newSockRef(conn, protoFunc, writeTimeout)
	if b, ok := s.Socket.(budgeted); ok && p.frameBudget != nil {
		b.SetFrameBudget(p.frameBudget)
	}
	s.handshaking(p, true)
	return s
}

var (
	_ Session     = (*session)(nil)
	_ PreSession  = (*session)(nil)
	_ PostSession = (*session)(nil)
)

func newSession(p *Peer, conn net.Conn, protoFunc []socket.ProtoFunc) *session {
	s := &session{peer: p}
	if len(protoFunc) > 0 {
		s.dial = &dialInfo{protoFunc: protoFunc}
	}
	s.readTimeout.Store(int64(p.cfg.DefaultReadTimeout))
	s.writeTimeout.Store(int64(p.cfg.DefaultWriteTimeout))
	sock := p.newSockRef(conn, protoFunc, p.cfg.DefaultWriteTimeout)
	s.sock.Store(sock)
	s.lc.live = []*sockRef{sock}
	return s
}

func addrIp(a net.Addr) string {
	if a == nil {
		return ""
	}
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

func (s *session) Id() string {
	if id := s.id.Load(); id != nil {
		return *id
	}
	return s.sock.Load().RemoteAddr().String()
}

// dialInfo is what a dialed session needs to dial again.
type dialInfo struct {
	addr      string
	protoFunc []socket.ProtoFunc
}

// protoFuncs returns the protocol the session was made with, if given.
func (s *session) protoFuncs() []socket.ProtoFunc {
	if s.dial == nil {
		return nil
	}
	return s.dial.protoFunc
}

// dialAddr returns the address a dialed session redials, "" for an
// accepted one.
func (s *session) dialAddr() string {
	if s.dial == nil {
		return ""
	}
	return s.dial.addr
}

// closedCh returns a channel closed once the session is.
func (s *session) closedCh() <-chan struct{} {
	if ch := s.closeCh.Load(); ch != nil {
		return *ch
	}
	ch := make(chan struct{})
	if s.closeCh.CompareAndSwap(nil, &ch) && s.closed.Load() {
		s.closeChan() // closed meanwhile: closeBy may have missed it
	}
	return *s.closeCh.Load()
}

// closeChan closes closeCh, if made, once.
func (s *session) closeChan() {
	if ch := s.closeCh.Load(); ch != nil && s.closeChClosed.CompareAndSwap(false, true) {
		close(*ch)
	}
}

// name is the session in log lines: its id, and its remote address too
// when the id is another.
func (s *session) name() string {
	id, addr := s.Id(), s.RemoteAddr().String()
	if id == addr {
		return id
	}
	return id + " (" + addr + ")"
}

func (s *session) SetId(newId string) {
	s.peer.sessions.setId(s, newId)
}

// storeId sets the id field; callers hold the session table's lock, so the
// table's index and the id change together.
func (s *session) storeId(id string) {
	if id == "" {
		s.id.Store(nil)
	} else {
		s.id.Store(&id)
	}
}

func (s *session) Peer() *Peer { return s.peer }
func (s *session) IsOk() bool {
	st := s.state()
	return st == stateActive || st == stateMoving
}
func (s *session) RemoteIp() string               { return s.sock.Load().ipAddrs()[0] }
func (s *session) LocalIp() string                { return s.sock.Load().ipAddrs()[1] }
func (s *session) RemoteAddr() net.Addr           { return s.sock.Load().RemoteAddr() }
func (s *session) LocalAddr() net.Addr            { return s.sock.Load().LocalAddr() }
func (s *session) Public() goutil.Map             { return s.public.Get() }
func (s *session) PublicLen() int                 { return s.public.Len() }
func (s *session) ReadTimeout() time.Duration     { return time.Duration(s.readTimeout.Load()) }
func (s *session) WriteTimeout() time.Duration    { return time.Duration(s.writeTimeout.Load()) }
func (s *session) SetReadTimeout(d time.Duration) { s.readTimeout.Store(int64(d)) }
func (s *session) SetWriteTimeout(d time.Duration) {
	s.writeTimeout.Store(int64(d))
	s.sock.Load().setWriteTimeout(d)
	if sock := s.handshaking.Load(); sock != nil {
		sock.setWriteTimeout(d)
	}
}

// Send writes a raw packet, for handshakes before the read loop starts
// (also on the new connection of a redial, while its PostDial hooks run).
func (s *session) Send(p *socket.Packet) error {
	return s.handshakeSock().WritePacket(p)
}

// Receive reads a raw packet, for handshakes before the read loop starts.
func (s *session) Receive(p *socket.Packet) error {
	sock := s.handshakeSock()
	sock.setReadDeadline(s.ReadTimeout())
	return sock.ReadPacket(p)
}

// handshakeSock is the connection Send and Receive use: the one being set
// up by a redial, or the current one.
func (s *session) handshakeSock() *sockRef {
	if sock := s.handshaking.Load(); sock != nil {
		return sock
	}
	return s.sock.Load()
}

// write sends p on the session's current connection.
func (s *session) write(p *socket.Packet) error {
	if !s.IsOk() {
		return errSessionClosed
	}
	return s.writeOn(s.sock.Load(), p)
}

// writeOn is the session's one write path: it applies the write timeout and
// ends the connection when a write fails.
func (s *session) writeOn(sock *sockRef, p *socket.Packet) error {
	if s.closed.Load() {
		return errSessionClosed
	}
	if err := p.SettingErr(); err != nil {
		return err // whatever the protocol: nothing is sent
	}
	err := sock.WritePacket(p)
	if err != nil && !socket.IsPackError(err) {
		s.breakConn(sock, &writeError{err})
	}
	return err
}

// writeError marks a session ended by a failed write: its waiting pulls
// end with CodeWriteFailed rather than CodeConnClosed.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// writeRerror turns a write error into the caller's Rerror.
func writeRerror(err error) *Rerror {
	if errors.Is(err, errSessionClosed) {
		return rerrConnClosed.wrap(err, "")
	}
	return rerrWriteFailed.wrap(err, "")
}

// breakConn ends a connection that failed under sock: a session that can
// redial only loses the connection (its read loop then redials), any other
// closes.
func (s *session) breakConn(sock *sockRef, cause error) {
	if s.canRedial() {
		_ = sock.Close()
		return
	}
	s.closeBy(cause)
}

// bodyCodecFor picks the codec of an outgoing body: raw bytes travel as
// strings, anything else in the peer's default codec.
func (s *session) bodyCodecFor(body interface{}) byte {
	switch body.(type) {
	case nil:
		return codec.NilCodecId
	case []byte, *[]byte:
		return codec.IdString
	}
	return s.peer.defaultBodyCodec
}

var pullChanPool = sync.Pool{New: func() any { return make(chan *PullCmd, 1) }}

func (s *session) Pull(uri string, args interface{}, reply interface{}, setting ...socket.PacketSetting) *PullCmd {
	return s.pullWithin(uri, args, reply, 0, setting)
}

// pullWithin is Pull, given up after within (0: never) with
// CodeHandleTimeout by whoever checks PullCmd.expireAt (a balancer).
func (s *session) pullWithin(uri string, args interface{}, reply interface{}, within time.Duration, setting []socket.PacketSetting) *PullCmd {
	ch := pullChanPool.Get().(chan *PullCmd)
	s.asyncPull(uri, args, reply, ch, within, setting)
	cmd := <-ch
	pullChanPool.Put(ch)
	return cmd
}

func (s *session) AsyncPull(uri string, args interface{}, reply interface{}, done chan *PullCmd, setting ...socket.PacketSetting) {
	s.asyncPull(uri, args, reply, done, 0, setting)
}

func (s *session) asyncPull(uri string, args interface{}, reply interface{}, done chan *PullCmd, within time.Duration, setting []socket.PacketSetting) {
	cmd := &PullCmd{sess: s, reply: reply, doneCh: done, start: monoNow()}
	if within > 0 {
		cmd.expireAt = cmd.start + int64(within)
	}
	out := &cmd.output
	seq := s.seq.Add(1)
	s.fillOutput(out, TypePull, seq, uri, args, setting)
	if rerr := runHooks("PreWritePull", s.peer.plugins.get().preWritePull, WriteCtx(cmd), PreWritePullPlugin.PreWritePull); rerr != nil {
		cmd.end(rerr)
		return
	}
	// The watch is set up before the pull enters the table, so that every
	// goroutine taking it out sees stopCtx; one that fires before the put
	// finds nothing, hence the second look at ctx.Err after it.
	ctx := out.Context()
	if deadline, ok := ctx.Deadline(); ok {
		setTimeoutMeta(out, deadline)
	}
	if ctx.Done() != nil {
		cmd.stopCtx = context.AfterFunc(ctx, func() { s.timeoutPull(seq, ctx) })
	}
	sock := s.acquireSock()
	if sock == nil {
		cmd.end(rerrConnClosed.withDetail(errSessionClosed.Error()))
		return
	}
	cmd.sock = sock
	if !s.pending.put(seq, cmd) {
		cmd.end(rerrConnClosed.withDetail(errSessionClosed.Error()))
		return
	}
	if ctx.Err() != nil {
		s.timeoutPull(seq, ctx)
		return
	}
	cmd.sent.Store(true)
	marked := markCaps(sock, out)
	err := s.writeOn(sock, out)
	if marked && errors.Is(err, socket.ErrExceedPacketSizeLimit) {
		// The marker made a pull at the limit too large: a later
		// pull or reply carries it.
		undoMarkCaps(sock, out)
		err = s.writeOn(sock, out)
	}
	if err != nil {
		if s.pending.take(seq) != nil {
			cmd.end(writeRerror(err))
		}
		return
	}
	runHooks("PostWritePull", s.peer.plugins.get().postWritePull, WriteCtx(cmd), PostWritePullPlugin.PostWritePull)
}

// fillOutput prepares an outgoing pull or push, then applies the caller's
// settings; the seq and type are set again after them, since a setting
// must not break the pairing of a reply.
func (s *session) fillOutput(out *socket.Packet, ptype byte, seq uint64, uri string, args interface{}, setting []socket.PacketSetting) {
	out.SetUri(uri)
	out.SetBody(args)
	out.SetBodyCodec(s.bodyCodecFor(args))
	for _, set := range setting {
		if set != nil {
			set(out)
		}
	}
	out.SetSeq(seq)
	out.SetPtype(ptype)
}

// timeoutPull ends the pull of seq with CodeHandleTimeout, unless another
// end took it first.
func (s *session) timeoutPull(seq uint64, ctx context.Context) {
	if cmd := s.pending.take(seq); cmd != nil {
		sock := cmd.sock
		cmd.end(rerrHandleTimeout.wrap(ctx.Err(), "pull "+cmd.output.Uri()))
		if errors.Is(ctx.Err(), context.Canceled) {
			// A deadline the handler knows; a cancel it must be told.
			s.sendCancel(seq, sock)
		}
	}
}

func (s *session) Push(uri string, args interface{}, setting ...socket.PacketSetting) *Rerror {
	c := s.peer.getCtx(s)
	defer s.peer.putCtx(c)
	out := &c.output
	s.fillOutput(out, TypePush, s.seq.Add(1), uri, args, setting)
	hooks := s.peer.plugins.get()
	if rerr := runHooks("PreWritePush", hooks.preWritePush, WriteCtx(c), PreWritePushPlugin.PreWritePush); rerr != nil {
		return rerr
	}
	start := time.Now()
	if err := s.write(out); err != nil {
		rerr := writeRerror(err)
		s.logPush(out, time.Since(start), rerr)
		return rerr
	}
	runHooks("PostWritePush", hooks.postWritePush, WriteCtx(c), PostWritePushPlugin.PostWritePush)
	s.logPush(out, time.Since(start), nil)
	return nil
}

// Close closes the session. It does not wait for the read loop, so it may
// be called from a handler or a hook.
func (s *session) Close() error {
	s.closeBy(nil)
	return nil
}

// closeBy closes the session once: the connection, the table entry, every
// waiting pull (CodeConnClosed), then the PostDisconnect hooks.
func (s *session) closeBy(cause error) {
	s.closeOnce.Do(func() {
		s.lc.mu.Lock()
		s.setStateLocked(stateClosed)
		// The current connection, whose reading may have ended (the
		// remote peer closed its side), and the retired ones.
		live := append(s.lc.live, s.sock.Load())
		s.lc.live = nil
		s.lc.mu.Unlock()
		s.closed.Store(true)
		s.closeChan() // stops the dialer
		s.cancelContext()
		for _, sock := range live {
			_ = sock.Close()
		}
		if sock := s.handshaking.Load(); sock != nil {
			_ = sock.Close() // the dialer's, in its PostDial hooks
		}
		s.peer.sessions.remove(s)
		s.failPending(cause)
		runHooks("PostDisconnect", s.peer.plugins.get().postDisconnect, PostSession(s), PostDisconnectPlugin.PostDisconnect)
		switch {
		case !s.started.Load():
			// Refused by a PostDial or PostAccept hook: the dial
			// returns the error, the accept logs it once.
		case cause != nil && !isClosedConnError(cause):
			Noticef("tp: session %s closed: %v", s.name(), cause)
		default:
			Debugf("tp: session %s closed", s.name())
		}
	})
}

// failPending ends every waiting pull: CodeWriteFailed when a write broke
// the connection, CodeConnClosed otherwise.
func (s *session) failPending(cause error) {
	rerr := rerrConnClosed.withDetail("session closed")
	if cause != nil {
		rerr = rerrConnClosed.wrap(cause, "")
		var we *writeError
		if errors.As(cause, &we) {
			rerr = rerrWriteFailed.wrap(we.err, "")
		}
	}
	for _, cmd := range s.pending.close() {
		cmd.end(rerr.Copy())
	}
	s.endStreamsOn(nil, rerr)
}

// isClosedConnError reports the ordinary ends of a connection, not worth
// more than a debug line.
func isClosedConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, errGoaway)
}
