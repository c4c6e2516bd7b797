package tp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/utils"
)

// Streams: long conversations on one session, opened by either side, with
// messages both ways and credit-based flow control. The frames are in
// socket/PROTOCOL.md; in short:
//
//   - TypeStreamOpen (opener to acceptor): seq is the stream id, uri the
//     route, the metadata the opener's (with MetaStreamWindow, the bytes
//     the acceptor may send before its first credit, and MetaTimeoutKey),
//     the body the handler's argument.
//   - TypeStreamMsg (either way): one message; it spends credit.
//   - TypeStreamCtrl (either way): the uri says which: streamAccept (the
//     acceptor's answer, with its window and metadata), streamCredit
//     (MetaStreamCredit more bytes may be sent), streamEnd (the sender
//     sends no more messages: CloseSend) and streamClose (the stream is
//     over, with an error in MetaReplyErrorKey when it failed).
//
// Stream ids are per connection: the side that dialed it opens odd ones,
// the side that accepted it even ones, so the two never collide. A stream
// lives on the connection it was opened on, and ends with CodeConnClosed
// when that connection ends: streams are never resumed on another.
//
// A stream is opened only towards a peer that said it understands streams
// (capsStream, see caps.go): teleport v3.0 never sees a stream frame.

// The packet types of stream frames, beyond teleport v3.0's 1 to 3.
const (
	// TypeStreamOpen opens a stream.
	TypeStreamOpen byte = 4
	// TypeStreamMsg carries one message of a stream.
	TypeStreamMsg byte = 5
	// TypeStreamCtrl accepts, credits, half-closes or closes a stream.
	TypeStreamCtrl byte = 6
)

// The URIs of TypeStreamCtrl frames.
const (
	streamAccept = "accept"
	streamCredit = "credit"
	streamEnd    = "end"
	streamClose  = "close"
)

// Metadata keys of stream frames.
const (
	// MetaStreamWindow, on an open or an accept, is the sender's receive
	// window: the bytes of messages the other side may send before the
	// first credit, as decimal digits.
	MetaStreamWindow = "X-Tp-Window"
	// MetaStreamCredit, on a credit frame, is the bytes the other side may
	// send beyond what it was allowed so far.
	MetaStreamCredit = "X-Tp-Credit"
)

const (
	// DefaultStreamWindow is PeerConfig.StreamWindow when 0: 256 KiB.
	DefaultStreamWindow = 256 << 10
	// DefaultMaxSessionStreams is PeerConfig.MaxSessionStreams when 0.
	DefaultMaxSessionStreams = 128
	// maxStreamWindow bounds a window and the credit a sender may hold:
	// a grant past it is a peer's mistake, not a larger window.
	maxStreamWindow = 1 << 30
	// msgCost is what each message costs beyond its body's bytes, so that
	// empty messages spend credit too: a receiver's queue is bounded in
	// messages as well as bytes.
	msgCost = 32
	// CodeCanceled is the code of a stream ended because its opener
	// cancelled it (its context, or Close before the other side ended).
	CodeCanceled int32 = 499
)

// Stream is one conversation on a session: messages in order both ways,
// encoded with the stream's body codec. Send and Recv may be called at the
// same time from two goroutines; each of them from one goroutine at a
// time.
type Stream interface {
	// Context is the stream's context: it carries the opener's deadline,
	// and is cancelled when the stream ends.
	Context() context.Context
	// Uri returns the route the stream was opened to.
	Uri() string
	// Session returns the session the stream runs on.
	Session() Session
	// Header returns the metadata of the other side: for the opener, the
	// acceptor's (see SetHeader), waiting until the acceptor's handler
	// has made its first Send or Recv, or returned; for the acceptor, the
	// open's.
	Header() *utils.Args
	// Send sends msg, waiting while the other side has not granted the
	// credit for it (the opener's first Send waits for the accepting
	// handler's first Send or Recv, which grants its window). It returns io.EOF once the other side has closed the
	// stream (Recv then tells how it ended), the stream's error once it
	// failed, and an error for a message past three quarters of the
	// other side's window, which no credit would ever cover.
	Send(msg interface{}) error
	// Recv decodes the next message into msg. It returns io.EOF once the
	// other side has finished sending and every message was read, or the
	// error the stream ended with (a *Rerror).
	Recv(msg interface{}) error
	// CloseSend tells the other side that no more messages follow; Recv
	// goes on.
	CloseSend() error
	// Close ends the stream now: the other side's Recv returns its
	// queued messages, then io.EOF when this side had called CloseSend
	// and read to the end, else CodeCanceled. Close on an ended stream
	// does nothing.
	Close() error
	// CloseWithError ends the stream with rerr, which the other side's
	// Recv returns after its queued messages.
	CloseWithError(rerr *Rerror) error
	// SetRecvWindow sets how many bytes of messages the other side may
	// have sent and this side not yet read. A larger window is granted at
	// once; a smaller one takes effect as credit is given back.
	SetRecvWindow(bytes int)
}

// StreamCtx is what a stream handler's controller embeds: the stream it
// handles, and the session and peer.
type StreamCtx interface {
	Stream
	// Peer returns the peer the handler runs in.
	Peer() *Peer
	// SetHeader sets metadata for the opener to read with Header; it
	// takes effect before the handler's first Send, Recv or SendHeader,
	// later calls do nothing.
	SetHeader(key, value string)
	// SendHeader accepts the stream now, with the header set so far: the
	// opener's Header returns, and its Send has this side's window to
	// spend. Without it, the first Send or Recv does so (or the return).
	SendHeader()
}

// StreamInfo is a stream as the stream hooks of plugins see it.
type StreamInfo interface {
	Stream
	// Opened reports whether this side opened the stream.
	Opened() bool
	// OpenMeta returns the open's metadata: on the opener, what it
	// sends (PreStreamOpen may change it); on the acceptor, what came.
	OpenMeta() *utils.Args
	// Stats returns the stream's counts so far.
	Stats() StreamStats
	// Err returns how the stream ended: nil while it runs, or when it
	// ended well.
	Err() *Rerror
}

// StreamStats are a stream's counts: messages and their body bytes, each
// way, and when it began.
type StreamStats struct {
	MsgsSent, MsgsRecv   int64
	BytesSent, BytesRecv int64
	Start                time.Time
}

// stream is a Stream of either side.
type stream struct {
	sess    *session
	sock    *sockRef
	id      uint64
	uri     string
	opener  bool
	codecId byte
	ctx     context.Context
	cancel  context.CancelFunc
	stopCtx func() bool // the opener's watch of its context
	header  utils.Args  // the other side's metadata
	// openMeta is the opener's copy of its open's metadata (the
	// acceptor's is header).
	openMeta utils.Args
	// hooks are the peer's plugin hooks when the stream began.
	hooks *pluginHooks
	start time.Time
	// The counts of Stats.
	msgsSent, msgsRecv, bytesSent, bytesRecv atomic.Int64
	// accepted is closed, once (acceptedOnce), when an opener's stream is
	// accepted or has ended.
	accepted     chan struct{}
	acceptedOnce sync.Once
	// replyHeader is the acceptor's metadata for its accept frame, until
	// it is sent (acceptSent).
	replyHeader utils.Args
	acceptSent  atomic.Bool
	acceptOnce  sync.Once

	mu sync.Mutex
	// Receiving: queued messages, the bytes the other side may still
	// send (allowed), what was read and not yet granted back (consumed),
	// and the window grants follow.
	queue    []*[]byte // pooled buffers (see streambuf.go)
	allowed  int64
	consumed int64
	window   int64
	// maxWindow is how far window may grow (window itself: no growth);
	// starved is set when a message left the sender too little credit
	// for another like it, waited when Recv found the queue empty; both
	// are cleared at each grant (see grow).
	maxWindow int64
	starved   bool
	waited    bool
	// remoteEnded is set by the other side's end or close; sendClosed by
	// our CloseSend; ended once the stream is over (closed by either
	// side, failed, or its connection lost), with err what is left to
	// say: nil for a clean close.
	remoteEnded bool
	sendClosed  bool
	ended       bool
	err         *Rerror
	// Sending: the credit left, and the other side's window.
	credit       int64
	remoteWindow int64
	// recvWake and sendWake wake a waiting Recv or Send (buffered 1).
	recvWake chan struct{}
	sendWake chan struct{}
}

var (
	errSendClosed   = errors.New("tp: Send after CloseSend")
	streamCtxType   = reflect.TypeOf((*StreamCtx)(nil)).Elem()
	rerrStreamLimit = NewRerror(CodeServiceUnavailable, "Service Unavailable", "")
)

func (st *stream) Context() context.Context { return st.ctx }
func (st *stream) Uri() string              { return st.uri }
func (st *stream) Session() Session         { return st.sess }
func (st *stream) Header() *utils.Args {
	st.waitAccepted()
	return &st.header
}

// waitAccepted waits, on the opener's side, until the other side has
// accepted the stream or it ended: until then the other side's header and
// window are unknown.
func (st *stream) waitAccepted() {
	if st.accepted != nil {
		<-st.accepted
	}
}
func (st *stream) Peer() *Peer { return st.sess.peer }

func (st *stream) SetHeader(key, value string) {
	if !st.opener && !st.acceptSent.Load() {
		st.replyHeader.Set(key, value)
	}
}

func (st *stream) SendHeader() { st.sendAccept() }

func (st *stream) Opened() bool { return st.opener }

func (st *stream) OpenMeta() *utils.Args {
	if st.opener {
		return &st.openMeta
	}
	return &st.header
}

func (st *stream) Stats() StreamStats {
	return StreamStats{
		MsgsSent: st.msgsSent.Load(), MsgsRecv: st.msgsRecv.Load(),
		BytesSent: st.bytesSent.Load(), BytesRecv: st.bytesRecv.Load(),
		Start: st.start,
	}
}

func (st *stream) Err() *Rerror {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// counted records a message of n body bytes, sent or received, and runs
// the StreamMsg hooks.
func (st *stream) counted(sent bool, n int) {
	if sent {
		st.msgsSent.Add(1)
		st.bytesSent.Add(int64(n))
	} else {
		st.msgsRecv.Add(1)
		st.bytesRecv.Add(int64(n))
	}
	if hooks := st.hooks.streamMsg; len(hooks) > 0 {
		for _, h := range hooks {
			callHook("StreamMsg", h, StreamInfo(st), func(h StreamMsgPlugin, info StreamInfo) *Rerror { return h.StreamMsg(info, sent, n) })
		}
	}
}

// cost is what a message of n body bytes spends of the credit.
func cost(n int) int64 { return int64(n) + msgCost }

// maxMessage is the largest body Send takes: credit comes back once a
// quarter of the window was read, so three quarters is what a sender
// holding unspent credit is sure to be granted.
func maxMessage(window int64) int64 { return window*3/4 - msgCost }

func (st *stream) Send(msg interface{}) error {
	st.sendAccept()
	st.waitAccepted()
	body, err := st.encode(msg)
	if err != nil {
		return err
	}
	need := cost(len(body))
	st.mu.Lock()
	for {
		switch {
		case st.sendClosed:
			st.mu.Unlock()
			return errSendClosed
		case st.ended:
			// Checked before the size: a stream refused before its
			// accept has no window, and its end is the error to give.
			err := st.err
			st.mu.Unlock()
			if err == nil {
				return io.EOF
			}
			return err
		case int64(len(body)) > maxMessage(st.remoteWindow):
			n := maxMessage(st.remoteWindow)
			st.mu.Unlock()
			return NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: a message of %d bytes is more than the other side's window allows (%d bytes: three quarters of %d, less %d)", clipUri(st.uri), len(body), n, st.remoteWindow, msgCost))
		case st.credit >= need:
			st.credit -= need
			st.mu.Unlock()
			return st.writeMsg(body)
		}
		st.mu.Unlock()
		<-st.sendWake // credit, or the end (the context's end included)
		st.mu.Lock()
	}
}

// encode marshals msg with the stream's codec.
func (st *stream) encode(msg interface{}) ([]byte, error) {
	switch b := msg.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	c, err := codec.Get(st.codecId)
	if err != nil {
		return nil, NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: body codec %d: %v", clipUri(st.uri), st.codecId, err))
	}
	b, err := c.Marshal(msg)
	if err != nil {
		return nil, NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: encoding %T with %s: %v", clipUri(st.uri), msg, c.Name(), err))
	}
	return b, nil
}

func (st *stream) writeMsg(body []byte) error {
	p := socket.GetPacket()
	defer socket.PutPacket(p)
	raw := socket.RawBody(body)
	p.SetSeq(st.id)
	p.SetPtype(TypeStreamMsg)
	p.SetBodyCodec(st.codecId)
	p.SetBody(&raw)
	// The frame is written by another goroutine when none is writing:
	// the sender makes its next messages meanwhile, and they share the
	// next system call.
	p.SetFlushLater(true)
	if err := st.sess.writeOn(st.sock, p); err != nil {
		rerr := writeRerror(err)
		st.end(rerr, false)
		return rerr
	}
	st.counted(true, len(body))
	return nil
}

func (st *stream) Recv(msg interface{}) error {
	st.sendAccept()
	st.mu.Lock()
	for len(st.queue) == 0 {
		if st.ended || st.remoteEnded {
			err := st.err
			st.mu.Unlock()
			if err == nil {
				return io.EOF
			}
			return err
		}
		st.waited = true
		st.mu.Unlock()
		<-st.recvWake
		st.mu.Lock()
	}
	buf := st.queue[0]
	st.queue[0] = nil
	st.queue = st.queue[1:]
	if len(st.queue) == 0 {
		st.queue = st.queue[:0:0] // let the backing array go
	}
	st.consumed += cost(len(*buf))
	var grant int64
	if !st.ended && !st.remoteEnded && st.consumed >= st.window/4 {
		grant = st.consumed + st.grow()
		st.allowed += grant
		st.consumed = 0
	}
	st.mu.Unlock()
	if grant > 0 {
		st.writeCtrl(streamCredit, MetaStreamCredit, grant, nil)
	}
	err := st.decode(*buf, msg)
	putMsgBuffer(buf)
	return err
}

// grow doubles the window, up to maxWindow, when the window is what holds
// the stream back: since the last grant, the sender ran out of credit
// (starved) and the reader waited for a message (a slow reader never
// waits; a slow sender is not starved). It returns the extra credit to
// grant; called with mu held, at a grant.
func (st *stream) grow() int64 {
	starved, waited := st.starved, st.waited
	st.starved, st.waited = false, false
	if !starved || !waited || st.window >= st.maxWindow {
		return 0
	}
	extra := min(st.window, st.maxWindow-st.window)
	st.window += extra
	return extra
}

// decode unmarshals a received body into msg; a *[]byte or *RawBody gets
// a copy, in its own capacity when it has enough.
func (st *stream) decode(body []byte, msg interface{}) error {
	switch b := msg.(type) {
	case *[]byte:
		*b = append((*b)[:0], body...)
		return nil
	case *socket.RawBody:
		*b = append((*b)[:0], body...)
		return nil
	}
	if len(body) == 0 {
		return nil
	}
	c, err := codec.Get(st.codecId)
	if err != nil {
		return NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: body codec %d: %v", clipUri(st.uri), st.codecId, err))
	}
	if err := c.Unmarshal(body, msg); err != nil {
		return NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: decoding into %T with %s: %v", clipUri(st.uri), msg, c.Name(), err))
	}
	return nil
}

func (st *stream) CloseSend() error {
	st.sendAccept()
	st.mu.Lock()
	if st.sendClosed || st.ended {
		st.mu.Unlock()
		return nil
	}
	st.sendClosed = true
	st.mu.Unlock()
	wake(st.sendWake)
	st.writeCtrl(streamEnd, "", 0, nil)
	return nil
}

func (st *stream) Close() error {
	st.mu.Lock()
	clean := st.sendClosed && st.remoteEnded && len(st.queue) == 0
	st.mu.Unlock()
	if clean || !st.opener {
		st.end(nil, true)
		return nil
	}
	st.end(NewRerror(CodeCanceled, "Canceled", "stream "+clipUri(st.uri)+": closed by its opener"), true)
	return nil
}

func (st *stream) CloseWithError(rerr *Rerror) error {
	if rerr == nil {
		return st.Close()
	}
	st.end(rerr, true)
	return nil
}

func (st *stream) SetRecvWindow(bytes int) {
	n := min(max(int64(bytes), 4*msgCost), maxStreamWindow)
	st.mu.Lock()
	var grant int64
	switch {
	case !st.opener && !st.acceptSent.Load():
		st.allowed = n // the accept announces it
	case n > st.window && !st.ended && !st.remoteEnded:
		grant = n - st.window
		st.allowed += grant
	}
	st.window, st.maxWindow = n, n
	st.mu.Unlock()
	if grant > 0 {
		st.writeCtrl(streamCredit, MetaStreamCredit, grant, nil)
	}
}

// writeCtrl writes a control frame of the stream, with key=n in its
// metadata when key is set, and rerr's.
func (st *stream) writeCtrl(kind, key string, n int64, rerr *Rerror) {
	p := socket.GetPacket()
	defer socket.PutPacket(p)
	p.SetSeq(st.id)
	p.SetPtype(TypeStreamCtrl)
	p.SetUri(kind)
	if key != "" {
		var buf [20]byte
		p.Meta().SetBytes([]byte(key), strconv.AppendInt(buf[:0], n, 10))
	}
	if rerr != nil {
		rerr.SetToMeta(p.Meta())
	}
	if err := st.sess.writeOn(st.sock, p); err != nil {
		Debugf("tp: session %s: stream %s (%d): %s not sent: %v", st.sess.name(), clipUri(st.uri), st.id, kind, err)
	}
}

// sendAccept sends the acceptor's accept frame, with its header, once:
// before its handler's first Send or Recv, or as it returns.
func (st *stream) sendAccept() {
	if st.opener || st.acceptSent.Load() {
		return
	}
	st.acceptOnce.Do(func() {
		p := socket.GetPacket()
		defer socket.PutPacket(p)
		p.SetSeq(st.id)
		p.SetPtype(TypeStreamCtrl)
		p.SetUri(streamAccept)
		st.replyHeader.CopyTo(p.Meta())
		var buf [20]byte
		st.mu.Lock()
		w := st.window
		st.mu.Unlock()
		p.Meta().SetBytes([]byte(MetaStreamWindow), strconv.AppendInt(buf[:0], w, 10))
		st.acceptSent.Store(true)
		if err := st.sess.writeOn(st.sock, p); err != nil {
			st.end(writeRerror(err), false)
		}
	})
}

// end ends the stream once: with rerr (nil: cleanly), telling the other
// side when tell. The stream leaves its session's table, its context is
// cancelled, and waiting calls return.
func (st *stream) end(rerr *Rerror, tell bool) {
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return
	}
	st.ended = true
	if st.err == nil {
		st.err = rerr
	}
	st.mu.Unlock()
	if tell {
		st.sendAccept() // an acceptor refusing before its first call
		st.writeCtrl(streamClose, "", 0, rerr)
	}
	st.finish()
}

// finish releases what the stream holds once it has ended.
func (st *stream) finish() {
	if st.stopCtx != nil {
		st.stopCtx()
	}
	st.cancel()
	wake(st.recvWake)
	wake(st.sendWake)
	st.acceptDone()
	st.sess.streams().remove(st)
	if st.hooks != nil {
		runHooks("PostStreamEnd", st.hooks.postStreamEnd, StreamInfo(st), PostStreamEndPlugin.PostStreamEnd)
	}
}

// acceptDone ends an opener's wait for the accept.
func (st *stream) acceptDone() {
	if st.accepted != nil {
		st.acceptedOnce.Do(func() { close(st.accepted) })
	}
}

// wake wakes the one waiting on ch, if any, or the next to wait.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// streamTable is a session's live streams, made on first use.
type streamTable struct {
	mu     sync.Mutex
	m      map[streamKey]*stream
	nextId atomic.Uint64
	// accepted counts the streams the other side opened, for
	// MaxSessionStreams.
	accepted int
}

// streamKey names a stream: its id on its connection.
type streamKey struct {
	sock *sockRef
	id   uint64
}

func (s *session) streams() *streamTable {
	if t := s.strm.Load(); t != nil {
		return t
	}
	t := &streamTable{m: make(map[streamKey]*stream)}
	if s.strm.CompareAndSwap(nil, t) {
		return t
	}
	return s.strm.Load()
}

func (t *streamTable) get(sock *sockRef, id uint64) *stream {
	t.mu.Lock()
	st := t.m[streamKey{sock, id}]
	t.mu.Unlock()
	return st
}

// remove takes st out of the table, and releases its hold on the
// connection, once.
func (t *streamTable) remove(st *stream) {
	t.mu.Lock()
	k := streamKey{st.sock, st.id}
	if t.m[k] != st {
		t.mu.Unlock()
		return
	}
	delete(t.m, k)
	if !st.opener {
		t.accepted--
	}
	t.mu.Unlock()
	s := st.sess
	if st.opener {
		s.releaseSock(st.sock)
	} else if st.sock.streams.Add(-1) == 0 && st.sock.retired.Load() {
		s.closeIfDrained(st.sock)
	}
}

// endStreamsOn ends with rerr every stream of sock (nil: every stream).
func (s *session) endStreamsOn(sock *sockRef, rerr *Rerror) {
	t := s.strm.Load()
	if t == nil {
		return
	}
	var ending []*stream
	t.mu.Lock()
	for k, st := range t.m {
		if sock == nil || k.sock == sock {
			ending = append(ending, st)
		}
	}
	t.mu.Unlock()
	for _, st := range ending {
		st.end(rerr.Copy(), false)
	}
}

// newStreamId returns the next id of a stream this side opens on sock:
// odd on a connection it dialed, even on one it accepted.
func (s *session) newStreamId() uint64 {
	n := s.streams().nextId.Add(1)
	if s.dialed() {
		return 2*n - 1
	}
	return 2 * n
}

// remoteOpened reports whether id is one the other side of the session
// opens.
func (s *session) remoteOpened(id uint64) bool {
	return (id%2 == 1) != s.dialed()
}

// OpenStream opens a stream to uri on the session. It returns once the open
// is written; a refusal (no such route, too many streams) ends the stream
// with its error, which Recv, Send and Header return. args, when not nil, is the handler's argument. The
// settings are a pull's: socket.WithContext bounds the whole stream (its
// deadline travels to the handler), socket.WithSetMeta adds metadata,
// socket.WithBodyCodec picks the codec of its messages, WithStreamWindow
// its receive window. The other side must be a peer of this package that
// understands streams; a teleport v3.0 peer gets nothing and the open ends
// with CodeNotImplemented.
func (s *session) OpenStream(uri string, args interface{}, setting ...socket.PacketSetting) (Stream, *Rerror) {
	p := socket.GetPacket()
	defer socket.PutPacket(p)
	s.fillOutput(p, TypeStreamOpen, 0, uri, args, setting)
	if p.BodyCodec() == codec.NilCodecId {
		// No argument: the messages still need a codec.
		p.SetBodyCodec(s.peer.defaultBodyCodec)
	}
	ctx := p.Context()
	window, maxWindow := int64(s.peer.cfg.StreamWindow), int64(s.peer.cfg.StreamWindowMax)
	if v := p.Meta().Peek(MetaStreamWindow); len(v) > 0 {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n > 0 {
			window = min(max(n, 4*msgCost), maxStreamWindow)
			maxWindow = window // set for this stream: it does not grow
		}
	}
	if rerr := s.learnStreamCaps(ctx); rerr != nil {
		return nil, rerr
	}
	sock := s.acquireSock()
	if sock == nil {
		return nil, rerrConnClosed.withDetail(errSessionClosed.Error())
	}
	if !sock.caps.streams.Load() {
		s.releaseSock(sock)
		return nil, NewRerror(CodeNotImplemented, "Not Implemented", "the remote peer does not understand streams (teleport v3.0, or an older version of this package)")
	}
	st := s.newStream(sock, s.newStreamId(), uri, true, p.BodyCodec(), window, maxWindow)
	p.Meta().CopyTo(&st.openMeta)
	st.ctx, st.cancel = context.WithCancel(ctx)
	if rerr := runHooks("PreStreamOpen", st.hooks.preStreamOpen, StreamInfo(st), PreStreamOpenPlugin.PreStreamOpen); rerr != nil {
		st.cancel()
		s.releaseSock(sock)
		return nil, rerr
	}
	st.openMeta.CopyTo(p.Meta())
	st.accepted = make(chan struct{})
	if deadline, ok := ctx.Deadline(); ok {
		setTimeoutMeta(p, deadline)
	}
	var buf [20]byte
	p.Meta().SetBytes([]byte(MetaStreamWindow), strconv.AppendInt(buf[:0], window, 10))
	p.SetSeq(st.id)
	p.SetPtype(TypeStreamOpen)
	t := s.streams()
	t.mu.Lock()
	t.m[streamKey{sock, st.id}] = st
	t.mu.Unlock()
	if ctx.Done() != nil {
		st.stopCtx = context.AfterFunc(ctx, func() { st.end(ctxRerror(ctx, uri), true) })
	}
	if err := s.writeOn(sock, p); err != nil {
		rerr := writeRerror(err)
		st.end(rerr, false)
		return nil, rerr
	}
	return st, nil
}

// ctxRerror is the error of a stream whose opener's context ended.
func ctxRerror(ctx context.Context, uri string) *Rerror {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return rerrHandleTimeout.wrap(ctx.Err(), "stream "+clipUri(uri))
	}
	return NewRerror(CodeCanceled, "Canceled", "stream "+clipUri(uri)+": "+ctx.Err().Error())
}

func (s *session) newStream(sock *sockRef, id uint64, uri string, opener bool, codecId byte, window, maxWindow int64) *stream {
	return &stream{
		hooks:     s.peer.plugins.get(),
		start:     time.Now(),
		sess:      s,
		sock:      sock,
		id:        id,
		uri:       uri,
		opener:    opener,
		codecId:   codecId,
		window:    window,
		maxWindow: maxWindow,
		allowed:   window,
		recvWake:  make(chan struct{}, 1),
		sendWake:  make(chan struct{}, 1),
	}
}

// WithStreamWindow sets the receive window of a stream being opened: the
// bytes of messages the other side may send before this side reads them.
// Without it, PeerConfig.StreamWindow.
func WithStreamWindow(bytes int) socket.PacketSetting {
	return socket.WithSetMeta(MetaStreamWindow, strconv.Itoa(bytes))
}

// readWindow reads a window from key in meta: ok false when missing or
// not a number in 1..maxStreamWindow.
func readWindow(meta *utils.Args, key string) (int64, bool) {
	v := meta.Peek(key)
	if len(v) == 0 || len(v) > 10 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n <= 0 || n > maxStreamWindow {
		return 0, false
	}
	return n, true
}

// onStreamFrame handles a stream frame c read on its connection, in the
// read loop; c.rawBody holds an open's or a message's body.
func (s *session) onStreamFrame(c *handlerCtx) {
	in := &c.input
	sock, id := c.sock, in.Seq()
	if in.Ptype() == TypeStreamOpen {
		s.onStreamOpen(c)
		return
	}
	st := s.streams().get(sock, id)
	if st == nil {
		// Ended here already (its frames cross our close), or never
		// opened: the sender is told, unless the frame was itself an
		// end of the stream.
		if in.Ptype() == TypeStreamMsg || in.Uri() == streamCredit || in.Uri() == streamEnd {
			Debugf("tp: session %s: a stream frame for no stream (id %d, %s)", s.name(), id, clipUri(in.Uri()))
			st := &stream{sess: s, sock: sock, id: id}
			st.writeCtrl(streamClose, "", 0, NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("no stream %d on this connection", id)))
		}
		return
	}
	if in.Ptype() == TypeStreamMsg {
		st.onMsg(c)
		return
	}
	switch in.Uri() {
	case streamAccept:
		if !st.opener {
			st.end(NewRerror(CodeBadPacket, "Bad Packet", "stream accepted by its opener"), true)
			return
		}
		w, ok := readWindow(in.Meta(), MetaStreamWindow)
		if !ok {
			st.end(NewRerror(CodeBadPacket, "Bad Packet", "stream accept without a valid "+MetaStreamWindow), true)
			return
		}
		st.mu.Lock()
		in.Meta().CopyTo(&st.header)
		st.header.Del(MetaStreamWindow)
		st.credit, st.remoteWindow = w, w
		st.mu.Unlock()
		st.acceptDone()
	case streamCredit:
		n, ok := readWindow(in.Meta(), MetaStreamCredit)
		st.mu.Lock()
		overflow := ok && st.credit+n > maxStreamWindow
		if ok && !overflow {
			st.credit += n
		}
		st.mu.Unlock()
		switch {
		case !ok:
			st.end(NewRerror(CodeBadPacket, "Bad Packet", "stream credit without a valid "+MetaStreamCredit), true)
		case overflow:
			st.end(NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream credit overflows: %d more bytes on top of what was granted passes the %d bytes a window may hold", n, maxStreamWindow)), true)
		default:
			wake(st.sendWake)
		}
	case streamEnd:
		st.mu.Lock()
		st.remoteEnded = true
		st.mu.Unlock()
		wake(st.recvWake)
	case streamClose:
		rerr := NewRerrorFromMeta(in.Meta())
		st.mu.Lock()
		if rerr == nil {
			st.remoteEnded = true
		}
		st.mu.Unlock()
		if rerr == nil && !st.opener {
			// The opener gave up cleanly while the handler runs: the
			// handler's Recv sees the end, its Send io.EOF.
			st.end(nil, false)
			return
		}
		st.end(rerr, false)
	default:
		st.end(NewRerror(CodeBadPacket, "Bad Packet", "unknown stream control "+clipUri(in.Uri())), true)
	}
}

// onMsg queues a message for Recv, or resets the stream of a sender that
// passed its credit.
func (st *stream) onMsg(c *handlerCtx) {
	n := cost(len(c.rawBody))
	st.mu.Lock()
	if st.ended || st.remoteEnded {
		st.mu.Unlock()
		return
	}
	if n > st.allowed {
		allowed := st.allowed
		st.mu.Unlock()
		st.end(NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: a message costing %d bytes passed the credit of %d bytes", clipUri(st.uri), n, allowed)), true)
		return
	}
	if c.bodyErr != nil {
		st.mu.Unlock()
		st.end(NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: %v", clipUri(st.uri), c.bodyErr)), true)
		return
	}
	st.allowed -= n
	if st.allowed < n {
		st.starved = true
	}
	size := len(c.rawBody)
	st.queue = append(st.queue, takeMsgBuffer((*[]byte)(&c.rawBody)))
	st.mu.Unlock()
	st.counted(false, size)
	wake(st.recvWake)
}

// onStreamOpen accepts a stream the other side opened, or refuses it.
func (s *session) onStreamOpen(c *handlerCtx) {
	in := &c.input
	sock, id := c.sock, in.Seq()
	p := s.peer
	refuse := func(rerr *Rerror) {
		st := &stream{sess: s, sock: sock, id: id, opener: true} // opener: no accept frame
		st.writeCtrl(streamClose, "", 0, rerr)
	}
	if !s.remoteOpened(id) {
		refuse(NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream id %d is not one the opener's side may use", id)))
		return
	}
	if p.rejecting.Load() || sock.retired.Load() {
		refuse(rerrServiceUnavailable.withDetail("peer is closing"))
		return
	}
	h := p.StreamRouter.get(uriPath(in.Uri()))
	if h == nil || h.streamFunc == nil {
		refuse(rerrNotFound.withDetail("no stream handler for " + clipUri(in.Uri())))
		return
	}
	window, ok := readWindow(in.Meta(), MetaStreamWindow)
	if !ok {
		refuse(NewRerror(CodeBadPacket, "Bad Packet", "stream open without a valid "+MetaStreamWindow))
		return
	}
	st := s.newStream(sock, id, in.Uri(), false, in.BodyCodec(), int64(p.cfg.StreamWindow), int64(p.cfg.StreamWindowMax))
	st.credit, st.remoteWindow = window, window
	in.Meta().CopyTo(&st.header)
	st.header.Del(MetaStreamWindow)
	parent := s.context()
	if left, ok := timeoutOf(in); ok {
		st.ctx, st.cancel = context.WithTimeout(parent, left)
	} else {
		st.ctx, st.cancel = context.WithCancel(parent)
	}
	for _, hooks := range [2]*pluginHooks{st.hooks, h.plugins.get()} {
		if rerr := runHooks("PostStreamAccept", hooks.postStreamAccept, StreamInfo(st), PostStreamAcceptPlugin.PostStreamAccept); rerr != nil {
			st.cancel()
			refuse(rerr)
			return
		}
	}
	t := s.streams()
	t.mu.Lock()
	k := streamKey{sock, id}
	switch {
	case t.m[k] != nil:
		t.mu.Unlock()
		st.cancel()
		refuse(NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %d is already open", id)))
		return
	case p.cfg.MaxSessionStreams > 0 && t.accepted >= p.cfg.MaxSessionStreams:
		t.mu.Unlock()
		st.cancel()
		refuse(rerrStreamLimit.withDetail(fmt.Sprintf("%d streams already open on this session, the most PeerConfig.MaxSessionStreams allows", t.accepted)))
		return
	}
	t.m[k] = st
	t.accepted++
	sock.streams.Add(1)
	t.mu.Unlock()
	arg := reflect.New(h.argElem)
	if len(c.rawBody) > 0 {
		in.SetBody(arg.Interface())
		if err := in.UnmarshalBody(c.rawBody); err != nil {
			st.end(NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("stream %s: %v", clipUri(st.uri), err)), true)
			return
		}
	}
	p.handling.Add(1)
	run := func() {
		defer p.handling.Add(-1)
		st.runHandler(h, arg)
	}
	if !Go(run) {
		p.handling.Add(-1)
		st.end(rerrServiceUnavailable.withDetail("goroutine pool exhausted"), true)
	}
}

// runHandler runs the stream's handler and ends the stream with its
// result; a panic ends it with CodeInternalServerError, and the session
// goes on.
func (st *stream) runHandler(h *Handler, arg reflect.Value) {
	var rerr *Rerror
	func() {
		defer func() {
			if v := recover(); v != nil {
				Errorf("tp: session %s: stream handler %s panicked: %v", st.sess.name(), h.name, v)
				rerr = NewRerror(CodeInternalServerError, "Internal Server Error", fmt.Sprintf("stream handler %s panicked", h.name))
			}
		}()
		rerr = h.streamFunc(st, arg)
	}()
	st.end(rerr, true)
}

// streamHandleFunc calls method on a pooled controller whose embedded
// StreamCtx is set to the stream.
func streamHandleFunc(ci *ctrlInfo, method reflect.Value) func(*stream, reflect.Value) *Rerror {
	return func(st *stream, arg reflect.Value) *Rerror {
		ctrl := ci.pool.Get().(*ctrlObj)
		*(*StreamCtx)(ctrl.ctx) = st
		defer func() {
			ctrl.v.Elem().SetZero()
			ci.pool.Put(ctrl)
		}()
		rets := method.Call([]reflect.Value{ctrl.v, arg})
		rerr, _ := rets[0].Interface().(*Rerror)
		return rerr
	}
}

// learnStreamCaps makes sure the other end of the session's connection
// has told its capabilities, asking it with a probe pull when it has not:
// a peer of this package answers the marked pull with its caps notice
// before the reply, a v3.0 peer with a 404 and nothing else.
func (s *session) learnStreamCaps(ctx context.Context) *Rerror {
	sock := s.sock.Load()
	if sock == nil || sock.caps.remote.Load() {
		return nil
	}
	cmd := s.Pull(probeUri, nil, nil, socket.WithContext(ctx))
	if rerr := cmd.Rerror(); rerr != nil && rerr.Code != CodeNotFound {
		return rerr
	}
	return nil
}
