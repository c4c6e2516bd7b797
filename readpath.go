package tp

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/utils"
)

// The read path, in the order a packet meets it:
//
//  1. readLoop reads a frame into a pooled handlerCtx. Once the header is
//     decoded, the packet asks bindBody for the object its body decodes
//     into, which routes it: a reply finds its pull (bindReply), a pull or
//     push its handler (bindCall), and the header hooks run.
//  2. A reply completes its pull on the read loop (finishReply).
//  3. A pull or push goes to a pooled goroutine (dispatch), within the
//     connection's handler limit or through its queue (handlerslots.go),
//     and is handled there (handle): the body hooks, the handler, and for
//     a pull the reply (writeReply).

// readLoop reads every incoming packet of sock on a goroutine of its own,
// for a connection that cannot wait in the peer's poller (see park). It
// only waits: the frames that arrive are read on a pooled goroutine
// (readBusy) while it blocks, so that its own stack never grows and the
// wait costs a goroutine of the smallest stack and no buffer. It hands the
// connection to the poller once it can wait there.
func (s *session) readLoop(sock *sockRef) {
	for sock != nil {
		if sock = s.readRound(sock, false); sock != nil && s.park(sock) == parked {
			return
		}
	}
	s.peer.readLoops.Done()
}

// busyRead is how a read loop has a goroutine of the read pool read the
// frames that arrived on its connection: mu is held by the read loop while
// run reads; run leaves the connection to read next in next and unlocks
// mu. Each connection has its own, since the two connections of a
// session moving to another (goaway) are read at the same time.
type busyRead struct {
	mu   sync.Mutex
	next *sockRef
	run  func()
}

// readBusy has a goroutine of the read pool read the frames that have
// arrived on sock, and returns the connection to wait on next, or nil.
func (s *session) readBusy(sock *sockRef) *sockRef {
	b := sock.busy
	if b == nil {
		b = new(busyRead)
		b.run = func() {
			b.next = s.readFrames(sock)
			b.mu.Unlock()
		}
		sock.busy = b
	}
	b.mu.Lock()
	if readPool.Load().Go(b.run) != nil {
		b.run() // the pool refused: read here, at the cost of stack
	}
	b.mu.Lock() // until run is done
	next := b.next
	b.mu.Unlock()
	return next
}

// How long a busy session's reader waits for the next frames itself,
// before it hands the wait back to the poller or the read loop: a session
// under load is read with one system call per batch and no hand-off, an
// idle one waits at the smallest cost. The wait follows the connection's
// rhythm: lingerGaps times the usual gap between its batches of frames
// (an average, see noteBatch), from minLinger to maxLinger; a connection
// whose batches come more than maxLinger / 2 apart, or that has no rhythm
// yet, waits minLinger. So a client with one call in flight, whose next
// request comes a round trip after the reply, is read by the same
// goroutine from call to call even when 10 000 such clients make each
// round trip last a second; a session that gets one message now and then
// (a heartbeat) parks at once. A lingering reader holds a goroutine, not
// a read buffer (the buffer is taken once bytes are there).
const (
	minLinger  = 20 * time.Millisecond
	maxLinger  = 2 * time.Second
	lingerGaps = 3
)

// noteBatch records that a batch of frames is about to be read on sock:
// the gap since the last one feeds its average (an exponentially weighted
// one, of weight 1/4). Called by the one reader.
func (s *sockRef) noteBatch() { s.noteBatchAt(monoNow()) }

// noteBatchAt is noteBatch at now (monoNow).
func (s *sockRef) noteBatchAt(now int64) {
	if last := s.lastBatch; last != 0 {
		// A gap past maxLinger only says "long": clamped, so that a
		// connection busy again after a pause finds its rhythm soon.
		gap := min(now-last, int64(maxLinger))
		if s.gapAvg == 0 {
			s.gapAvg = gap
		} else {
			s.gapAvg += (gap - s.gapAvg) / 4
		}
	}
	s.lastBatch = now
}

// lingerFor returns how long the reader of sock waits for its next frames.
func (s *sockRef) lingerFor() time.Duration {
	if s.gapAvg <= 0 || s.gapAvg > int64(maxLinger/2) {
		return minLinger
	}
	return min(max(time.Duration(lingerGaps*s.gapAvg), minLinger), maxLinger)
}

// readFrames reads the frames that arrived on sock, and more as long as
// they come within the linger of each other. It returns the connection to
// wait on next (sock), or nil when the reading is over.
func (s *session) readFrames(sock *sockRef) *sockRef {
	sock.noteBatch()
	for {
		next := s.readNext(sock, nil)
		if next == sock && sock.buffered() == 0 {
			next = s.linger(sock)
		}
		if next == lingerDone {
			return sock
		}
		if next != sock {
			return next
		}
		sock.setReadDeadline(s.ReadTimeout())
	}
}

// linger waits for more of sock's frames, for lingerFor, reading them into
// a pooled buffer. It returns sock when some came, nil when the loop is
// over, and lingerDone when it should wait at less cost instead (nothing
// came, or sock cannot wait with a deadline and go on).
func (s *session) linger(sock *sockRef) *sockRef {
	if !sock.lingerOK {
		return lingerDone
	}
	d := sock.lingerFor()
	if rt := s.ReadTimeout(); rt > 0 && rt <= d {
		return lingerDone
	}
	sock.readDeadline.Store(true)
	_ = sock.SetReadDeadline(time.Now().Add(d))
	err := sock.fill()
	if err == nil {
		sock.noteBatch()
		return sock
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return lingerDone // the read loop sets the session's own deadline
	}
	return s.readFailed(sock, err)
}

// lingerDone tells readFrames that nothing came: the connection waits
// again.
var lingerDone = new(sockRef)

// readNext reads and routes the frame whose first bytes waitErr says have
// arrived, and returns the connection to go on reading from, or nil when
// the loop is over.
//
//go:noinline
func (s *session) readNext(sock *sockRef, waitErr error) *sockRef {
	if waitErr != nil {
		return s.readFailed(sock, waitErr)
	}
	p := s.peer
	c := p.getCtx(s)
	c.sock = sock
	if rerr := runHooks("PreReadHeader", p.plugins.get().preReadHeader, BackgroundCtx(c), PreReadHeaderPlugin.PreReadHeader); rerr != nil {
		p.putCtx(c)
		s.closeBy(fmt.Errorf("PreReadHeader: %s", rerr))
		return nil
	}
	c.input.SetNewBody(c.bindBodyFn)
	err := sock.ReadPacket(&c.input)
	if err != nil && !socket.IsBodyError(err) {
		p.putCtx(c)
		return s.readFailed(sock, err)
	}
	c.bodyErr = err // the frame was read whole: the session goes on
	switch {
	case c.notice != noticeNone:
		s.onNotice(c)
		p.putCtx(c)
	case c.input.Ptype() == TypeReply:
		c.finishReply()
		p.putCtx(c)
	case c.input.Ptype() >= TypeStreamOpen && c.input.Ptype() <= TypeStreamCtrl:
		s.onStreamFrame(c)
		p.putCtx(c)
	case c.input.Ptype() == TypePull || c.input.Ptype() == TypePush:
		if c.input.Ptype() == TypePull && !sock.caps.remote.Load() {
			s.onPullCaps(sock, &c.input)
		}
		if !s.dispatch(c, sock) {
			return nil // the session closed while the message waited
		}
	default:
		Warnf("tp: session %s: dropped a packet of unknown type %d (uri %q, seq %d)", s.name(), c.input.Ptype(), c.input.Uri(), c.input.Seq())
		p.putCtx(c)
	}
	return sock
}

// readFailed handles the end of sock's stream: the lifecycle decides what
// follows (see connEnded), and this read loop is over.
func (s *session) readFailed(sock *sockRef, err error) *sockRef {
	s.connEnded(sock, err)
	return nil
}

// bindBody runs in the read loop once the header is decoded: it routes the
// packet, runs the header hooks, and returns the object its body decodes
// into (nil discards the body).
func (c *handlerCtx) bindBody(socket.Header) interface{} {
	switch c.input.Ptype() {
	case TypeReply:
		return c.bindReply() // its pull keeps the time it began
	case TypePull:
		return c.bindCall(c.sess.peer.PullRouter)
	case TypePush:
		if c.notice = noticeOf(c.input.Uri()); c.notice != noticeNone {
			return nil
		}
		return c.bindCall(c.sess.peer.PushRouter)
	case TypeStreamOpen, TypeStreamMsg:
		return &c.rawBody // the open's argument or the message, kept raw
	}
	return nil
}

// bindReply takes the pull the reply answers out of the pending table: from
// here on, finishReply ends it.
func (c *handlerCtx) bindReply() interface{} {
	cmd := c.sess.pending.take(c.input.Seq())
	if cmd == nil {
		Debugf("tp: session %s: discarded a late reply (uri %q, seq %d)", c.sess.name(), c.input.Uri(), c.input.Seq())
		return nil
	}
	c.pullCmd = cmd
	hooks := c.sess.peer.plugins.get()
	if c.rerr = runHooks("PostReadReplyHeader", hooks.postReadReplyHeader, ReadCtx(c), PostReadReplyHeaderPlugin.PostReadReplyHeader); c.rerr != nil {
		return nil
	}
	if c.rerr = runHooks("PreReadReplyBody", hooks.preReadReplyBody, ReadCtx(c), PreReadReplyBodyPlugin.PreReadReplyBody); c.rerr != nil {
		return nil
	}
	if c.input.Size() > maxRawReply {
		return cmd.reply // decoded in place: a copy would cost more
	}
	// Kept raw, to be decoded by finishReply once the frame decoder has
	// returned: decoded within it, the body decoder's frames would stack
	// on the frame decoder's, and the reading goroutine's stack would
	// grow again each time the collector has shrunk it (a request's body
	// is decoded by its handler for the same reason, see bindCall).
	return &c.rawBody
}

// maxRawReply is the largest reply frame whose body finishReply decodes
// from a copy (see bindReply); a larger one is decoded within the frame
// decoder, where copying it would cost more than the stack.
const maxRawReply = 64 << 10

// bindCall routes a pull or push through router and runs its header hooks,
// the peer's, then the route's. An error is kept in c.rerr: a pull is
// answered with it, a push dropped.
func (c *handlerCtx) bindCall(router *Router) interface{} {
	c.start = monoNow()
	p := c.sess.peer
	if p.rejecting.Load() {
		c.rerr = rerrServiceUnavailable.withDetail("peer is closing")
		return nil
	}
	peerHooks := p.plugins.get()
	if c.rerr = c.postReadHeader(peerHooks); c.rerr != nil {
		return nil
	}
	h := router.get(uriPath(c.input.Uri()))
	if h == nil {
		c.rerr = rerrNotFound.withDetail(fmt.Sprintf("no %s handler for %s", ptypeName(router.typ), clipUri(c.input.Uri())))
		return nil
	}
	c.handler = h
	routeHooks := h.plugins.get()
	if c.rerr = c.postReadHeader(routeHooks); c.rerr != nil {
		return nil
	}
	for _, hooks := range [2]*pluginHooks{peerHooks, routeHooks} {
		if c.rerr = c.preReadBody(hooks); c.rerr != nil {
			return nil
		}
	}
	if c.input.Ptype() == TypePull {
		if left, ok := timeoutOf(&c.input); ok {
			c.deadline = time.Now().Add(left)
		}
	}
	// The body is kept as it came and decoded by the handler's goroutine
	// (decodeArg): the reader's stack stays shallow, so it is not grown
	// by a decoder each time the garbage collector has shrunk it.
	return &c.rawBody
}

// decodeArg decodes the body kept raw by bindCall into a new argument of
// the handler, on the handler's goroutine; an error is kept in bodyErr, as
// one found while reading would be.
func (c *handlerCtx) decodeArg() {
	c.arg = reflect.New(c.handler.argElem)
	c.decodeRawInto(c.arg.Interface())
}

// decodeRawInto makes v the input's body and decodes into it the body kept
// raw while the frame was read (bindCall, bindReply); nil v discards it.
// An error is kept in bodyErr, unless one came with the frame.
func (c *handlerCtx) decodeRawInto(v interface{}) {
	c.input.SetBody(v)
	if c.bodyErr == nil && v != nil {
		c.bodyErr = c.input.UnmarshalBody(c.rawBody)
	}
}

// postReadHeader runs the PostRead{Pull,Push}Header hooks of hooks.
func (c *handlerCtx) postReadHeader(hooks *pluginHooks) *Rerror {
	if c.input.Ptype() == TypePull {
		return runHooks("PostReadPullHeader", hooks.postReadPullHeader, ReadCtx(c), PostReadPullHeaderPlugin.PostReadPullHeader)
	}
	return runHooks("PostReadPushHeader", hooks.postReadPushHeader, ReadCtx(c), PostReadPushHeaderPlugin.PostReadPushHeader)
}

// preReadBody runs the PreRead{Pull,Push}Body hooks of hooks.
func (c *handlerCtx) preReadBody(hooks *pluginHooks) *Rerror {
	if c.input.Ptype() == TypePull {
		return runHooks("PreReadPullBody", hooks.preReadPullBody, ReadCtx(c), PreReadPullBodyPlugin.PreReadPullBody)
	}
	return runHooks("PreReadPushBody", hooks.preReadPushBody, ReadCtx(c), PreReadPushBodyPlugin.PreReadPushBody)
}

// postReadBody runs the PostRead{Pull,Push}Body hooks of hooks.
func (c *handlerCtx) postReadBody(hooks *pluginHooks) *Rerror {
	if c.input.Ptype() == TypePull {
		return runHooks("PostReadPullBody", hooks.postReadPullBody, ReadCtx(c), PostReadPullBodyPlugin.PostReadPullBody)
	}
	return runHooks("PostReadPushBody", hooks.postReadPushBody, ReadCtx(c), PostReadPushBodyPlugin.PostReadPushBody)
}

// finishReply ends the pull a reply answers, on the read loop.
func (c *handlerCtx) finishReply() {
	cmd := c.pullCmd
	if cmd == nil {
		return
	}
	if c.input.Meta().Len() > 0 {
		if !c.sock.caps.remote.Load() && hasCapsMarker(&c.input) {
			streams, _ := parseCaps(c.input.Meta().Peek(metaCapsKey))
			c.sess.learnCaps(c.sock, streams)
		}
		cmd.inputMeta = new(utils.Args)
		c.input.Meta().CopyTo(cmd.inputMeta)
	}
	if c.input.Body() == &c.rawBody { // kept raw by bindReply
		c.decodeRawInto(cmd.reply)
	}
	switch {
	case c.rerr != nil:
		cmd.end(c.rerr)
	case c.bodyErr != nil:
		cmd.end(rerrBadPacket.withDetail(fmt.Sprintf("reply of %s: %v", clipUri(c.input.Uri()), c.bodyErr)))
	default:
		rerr := NewRerrorFromMeta(c.input.Meta())
		if hookErr := runHooks("PostReadReplyBody", c.sess.peer.plugins.get().postReadReplyBody, ReadCtx(c), PostReadReplyBodyPlugin.PostReadReplyBody); hookErr != nil {
			rerr = hookErr
		}
		cmd.end(rerr)
	}
}

// overloaded marks a message that arrived past the session's handler limit
// with RejectOverload: a pull is answered CodeServiceUnavailable, a push
// dropped, and neither handler runs.
func (c *handlerCtx) overloaded(limit int64) {
	if c.rerr != nil {
		return // already refused (not found, peer closing, a hook)
	}
	c.rerr = rerrServiceUnavailable.withDetail(fmt.Sprintf("%d handlers already running for this session", limit))
	if c.input.Ptype() == TypePush && overloadLog.allow() {
		Warnf("tp: session %s: overloaded, dropped push %s (at most one such line a second)", c.sess.name(), c.input.Uri())
	}
}

// handle runs the body hooks, the handler, then the reply of a pull; on a
// pool goroutine (runHandlers), or on the reader for a message refused at
// once. The caller releases the message's handler slot after it.
func (c *handlerCtx) handle() {
	s := c.sess
	p := s.peer
	defer p.putCtx(c)
	pull := c.input.Ptype() == TypePull
	if c.rerr == nil && c.handler != nil && !c.handler.isUnknown {
		c.decodeArg()
	}
	if c.rerr == nil && c.bodyErr != nil {
		c.rerr = rerrBadPacket.withDetail(fmt.Sprintf("%s %s: %v", kindOf(pull), clipUri(c.input.Uri()), c.bodyErr))
	}
	for _, hooks := range [2]*pluginHooks{p.plugins.get(), c.routeHooks()} {
		if c.rerr == nil && hooks != nil {
			c.rerr = c.postReadBody(hooks)
		}
	}
	if c.rerr == nil && pull {
		c.rerr = c.expired()
	}
	if c.rerr == nil {
		c.callHandler()
		c.endContext()
	}
	if pull {
		c.writeReply()
	} else if c.rerr != nil && c.rerr.Code == CodeNotFound && undeliveredPushLog.allow() {
		Warnf("tp: session %s: dropped a push to %s, which is no push route here (at most one such line a second)", s.name(), c.input.Uri())
	}
	s.logHandled(c, kindOf(pull))
}

// expired refuses to run a pull whose caller has already given up: its
// deadline has passed, or it cancelled the pull.
func (c *handlerCtx) expired() *Rerror {
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return rerrHandleTimeout.withDetail(fmt.Sprintf("pull %s: the caller's deadline passed before it was handled", clipUri(c.input.Uri())))
	}
	if st := c.sess.calls.Load(); st != nil && st.cancelled(c.input.Seq()) {
		return rerrHandleTimeout.withDetail(fmt.Sprintf("pull %s: the caller cancelled it before it was handled", clipUri(c.input.Uri())))
	}
	return nil
}

// maxUriInDetail bounds the share of a URI an error's Detail repeats, so
// that an error reply stays small whatever URI the remote peer sent.
const maxUriInDetail = 256

// clipUri returns uri, cut to maxUriInDetail bytes for an error's Detail.
func clipUri(uri string) string {
	if len(uri) <= maxUriInDetail {
		return uri
	}
	return fmt.Sprintf("%s…(%d bytes)", uri[:maxUriInDetail], len(uri))
}

// kindOf names a pull or push in log lines and errors.
func kindOf(pull bool) string {
	if pull {
		return "pull"
	}
	return "push"
}

// routeHooks returns the hooks of the route's plugins, nil before routing.
func (c *handlerCtx) routeHooks() *pluginHooks {
	if c.handler == nil {
		return nil
	}
	return c.handler.plugins.get()
}

// callHandler calls the route's handler. A panic becomes
// CodeInternalServerError for this message only, logged with its stack.
func (c *handlerCtx) callHandler() {
	defer func() {
		if r := recover(); r != nil {
			errorWithStack(debug.Stack(), "tp: panic in handler %s (session %s, seq %d): %v", c.handler.name, c.sess.Id(), c.input.Seq(), r)
			c.rerr = rerrInternal.withDetail(fmt.Sprintf("panic in %s: %v", c.handler.name, r))
			c.output.SetBody(nil)
		}
	}()
	h := c.handler
	switch {
	case h.handleFunc != nil:
		h.handleFunc(c)
	case h.pullUnknownFn != nil:
		body, rerr := h.pullUnknownFn(c)
		if rerr != nil {
			c.rerr = rerr
		} else {
			c.output.SetBody(body)
		}
	case h.pushUnknownFn != nil:
		h.pushUnknownFn(c)
	}
}

// writeReply answers the pull with the handler's result or c.rerr.
func (c *handlerCtx) writeReply() {
	out, s := &c.output, c.sess
	out.SetSeq(c.input.Seq())
	out.SetPtype(TypeReply)
	out.SetUri(c.input.Uri())
	withCaps := markCaps(c.sock, out)
	if c.rerr != nil {
		out.SetBody(nil)
		c.rerr.SetToMeta(out.Meta())
	} else if out.BodyCodec() == 0 && out.Body() != nil {
		out.SetBodyCodec(c.input.BodyCodec())
		if out.BodyCodec() == 0 {
			out.SetBodyCodec(s.bodyCodecFor(out.Body()))
		}
	}
	local := c.routeHooks()
	if rerr := c.runWriteReplyHooks("PreWriteReply", local, true); rerr != nil {
		c.replaceReply(rerr)
	}
	err := s.writeOn(c.sock, out)
	if withCaps && errors.Is(err, socket.ErrExceedPacketSizeLimit) {
		// The marker made a reply at the limit too large: a later reply
		// carries it.
		undoMarkCaps(c.sock, out)
		err = s.writeOn(c.sock, out)
	}
	if err != nil && socket.IsPackError(err) {
		// The result cannot be sent (cannot be encoded, too large): tell
		// the caller instead of leaving it waiting.
		c.replaceReply(rerrInternal.withDetail(fmt.Sprintf("reply of %s: %v", clipUri(c.input.Uri()), err)))
		err = s.writeOn(c.sock, out)
	}
	if err != nil && socket.IsPackError(err) {
		// Still too large: the URI itself must be near the size limit.
		// The pull is matched by its seq; the bare error is sent.
		c.replaceReply(rerrInternal.Copy())
		out.SetUri("")
		err = s.writeOn(c.sock, out)
	}
	if err != nil {
		Debugf("tp: session %s: reply to %s (seq %d) not sent: %v", s.name(), c.input.Uri(), c.input.Seq(), err)
	} else {
		c.runWriteReplyHooks("PostWriteReply", local, false)
	}
}

func (c *handlerCtx) replaceReply(rerr *Rerror) {
	c.rerr = rerr
	c.output.SetBody(nil)
	c.output.Meta().Del(MetaRerrorKey)
	rerr.SetToMeta(c.output.Meta())
}

func (c *handlerCtx) runWriteReplyHooks(stage string, local *pluginHooks, pre bool) *Rerror {
	peerHooks := c.sess.peer.plugins.get()
	if pre {
		if rerr := runHooks(stage, peerHooks.preWriteReply, WriteCtx(c), PreWriteReplyPlugin.PreWriteReply); rerr != nil || local == nil {
			return rerr
		}
		return runHooks(stage, local.preWriteReply, WriteCtx(c), PreWriteReplyPlugin.PreWriteReply)
	}
	if rerr := runHooks(stage, peerHooks.postWriteReply, WriteCtx(c), PostWriteReplyPlugin.PostWriteReply); rerr != nil || local == nil {
		return rerr
	}
	return runHooks(stage, local.postWriteReply, WriteCtx(c), PostWriteReplyPlugin.PostWriteReply)
}
