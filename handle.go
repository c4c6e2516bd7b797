package tp

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/utils"
)

// bindBody runs in the read loop once the header is decoded: it runs the
// header hooks, routes the message, and returns the object its body decodes
// into (nil discards the body).
func (c *handlerCtx) bindBody(socket.Header) interface{} {
	c.start = time.Now()
	switch c.input.Ptype() {
	case TypeReply:
		return c.bindReply()
	case TypePull:
		return c.bindPull()
	case TypePush:
		if c.input.Uri() == goawayUri {
			c.goaway = true
			return nil
		}
		return c.bindPush()
	}
	return nil
}

func (c *handlerCtx) bindReply() interface{} {
	cmd := c.sess.pending.take(c.input.Seq())
	if cmd == nil {
		Debugf("tp: session %s: discarded a late reply (uri %q, seq %d)", c.sess.Id(), c.input.Uri(), c.input.Seq())
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
	return cmd.reply
}

// finishReply completes the pull a reply answers, in the read loop.
func (c *handlerCtx) finishReply() {
	cmd := c.pullCmd
	if cmd == nil {
		return
	}
	if c.input.Meta().Len() > 0 {
		cmd.inputMeta = new(utils.Args)
		c.input.Meta().CopyTo(cmd.inputMeta)
	}
	switch {
	case c.rerr != nil:
		cmd.rerr = c.rerr
	case c.bodyErr != nil:
		cmd.rerr = rerrBadPacket.withDetail(fmt.Sprintf("reply of %s: %v", c.input.Uri(), c.bodyErr))
	default:
		cmd.rerr = NewRerrorFromMeta(c.input.Meta())
		if rerr := runHooks("PostReadReplyBody", c.sess.peer.plugins.get().postReadReplyBody, ReadCtx(c), PostReadReplyBodyPlugin.PostReadReplyBody); rerr != nil {
			cmd.rerr = rerr
		}
	}
	cmd.done()
}

func (c *handlerCtx) bindPull() interface{} {
	p := c.sess.peer
	if p.rejecting.Load() {
		c.rerr = rerrServiceUnavailable.withDetail("peer is closing")
		return nil
	}
	hooks := p.plugins.get()
	if c.rerr = runHooks("PostReadPullHeader", hooks.postReadPullHeader, ReadCtx(c), PostReadPullHeaderPlugin.PostReadPullHeader); c.rerr != nil {
		return nil
	}
	h := p.PullRouter.get(uriPath(c.input.Uri()))
	if h == nil {
		c.rerr = rerrNotFound.withDetail("no pull handler for " + c.input.Uri())
		return nil
	}
	c.handler = h
	local := h.plugins.get()
	if c.rerr = runHooks("PostReadPullHeader", local.postReadPullHeader, ReadCtx(c), PostReadPullHeaderPlugin.PostReadPullHeader); c.rerr != nil {
		return nil
	}
	for _, hs := range [2][]PreReadPullBodyPlugin{hooks.preReadPullBody, local.preReadPullBody} {
		if c.rerr = runHooks("PreReadPullBody", hs, ReadCtx(c), PreReadPullBodyPlugin.PreReadPullBody); c.rerr != nil {
			return nil
		}
	}
	return c.newArg(h)
}

func (c *handlerCtx) bindPush() interface{} {
	p := c.sess.peer
	if p.rejecting.Load() {
		c.rerr = rerrConnClosed.withDetail("peer is closing")
		return nil
	}
	hooks := p.plugins.get()
	if c.rerr = runHooks("PostReadPushHeader", hooks.postReadPushHeader, ReadCtx(c), PostReadPushHeaderPlugin.PostReadPushHeader); c.rerr != nil {
		return nil
	}
	h := p.PushRouter.get(uriPath(c.input.Uri()))
	if h == nil {
		c.rerr = rerrNotFound.withDetail("no push handler for " + c.input.Uri())
		return nil
	}
	c.handler = h
	local := h.plugins.get()
	if c.rerr = runHooks("PostReadPushHeader", local.postReadPushHeader, ReadCtx(c), PostReadPushHeaderPlugin.PostReadPushHeader); c.rerr != nil {
		return nil
	}
	for _, hs := range [2][]PreReadPushBodyPlugin{hooks.preReadPushBody, local.preReadPushBody} {
		if c.rerr = runHooks("PreReadPushBody", hs, ReadCtx(c), PreReadPushBodyPlugin.PreReadPushBody); c.rerr != nil {
			return nil
		}
	}
	return c.newArg(h)
}

// newArg returns the object the body of a message for h decodes into.
func (c *handlerCtx) newArg(h *Handler) interface{} {
	if h.isUnknown {
		return &c.rawBody
	}
	c.arg = reflect.New(h.argElem)
	return c.arg.Interface()
}

// handle runs on a pool goroutine: the handler, then the reply of a pull.
func (c *handlerCtx) handle() {
	p := c.sess.peer
	s, sock := c.sess, c.sock
	defer func() {
		p.putCtx(c)
		p.handling.Add(-1)
		if sock.handling.Add(-1) == 0 && sock.retired.Load() {
			s.closeIfDrained(sock)
		}
	}()
	if c.input.Ptype() == TypePull {
		c.handlePull()
	} else {
		c.handlePush()
	}
}

func (c *handlerCtx) handlePull() {
	if c.rerr == nil && c.bodyErr != nil {
		c.rerr = rerrBadPacket.withDetail(fmt.Sprintf("pull %s: %v", c.input.Uri(), c.bodyErr))
	}
	if c.rerr == nil {
		c.rerr = c.runReadBodyHooks()
	}
	if c.rerr == nil {
		c.callHandler()
	}
	c.writeReply()
}

func (c *handlerCtx) handlePush() {
	if c.rerr == nil && c.bodyErr != nil {
		c.rerr = rerrBadPacket.withDetail(fmt.Sprintf("push %s: %v", c.input.Uri(), c.bodyErr))
	}
	if c.rerr == nil {
		c.rerr = c.runReadBodyHooks()
	}
	if c.rerr == nil {
		c.callHandler()
	}
	c.sess.logHandled(c, "push")
}

// runReadBodyHooks runs PostRead{Pull,Push}Body, the peer's then the route's.
func (c *handlerCtx) runReadBodyHooks() *Rerror {
	peerHooks, local := c.sess.peer.plugins.get(), c.handler.plugins.get()
	if c.input.Ptype() == TypePull {
		for _, hs := range [2][]PostReadPullBodyPlugin{peerHooks.postReadPullBody, local.postReadPullBody} {
			if rerr := runHooks("PostReadPullBody", hs, ReadCtx(c), PostReadPullBodyPlugin.PostReadPullBody); rerr != nil {
				return rerr
			}
		}
		return nil
	}
	for _, hs := range [2][]PostReadPushBodyPlugin{peerHooks.postReadPushBody, local.postReadPushBody} {
		if rerr := runHooks("PostReadPushBody", hs, ReadCtx(c), PostReadPushBodyPlugin.PostReadPushBody); rerr != nil {
			return rerr
		}
	}
	return nil
}

// callHandler calls the route's handler. A panic becomes
// CodeInternalServerError for this message only, logged with its stack.
func (c *handlerCtx) callHandler() {
	defer func() {
		if r := recover(); r != nil {
			Errorf("tp: panic in handler %s (session %s, seq %d): %v\n%s", c.handler.name, c.sess.Id(), c.input.Seq(), r, debug.Stack())
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
	if c.rerr != nil {
		out.SetBody(nil)
		c.rerr.SetToMeta(out.Meta())
	} else if out.BodyCodec() == 0 && out.Body() != nil {
		out.SetBodyCodec(c.input.BodyCodec())
		if out.BodyCodec() == 0 {
			out.SetBodyCodec(s.bodyCodecFor(out.Body()))
		}
	}
	var local *pluginHooks
	if c.handler != nil {
		local = c.handler.plugins.get()
	}
	if rerr := c.runWriteReplyHooks("PreWriteReply", local, true); rerr != nil {
		c.replaceReply(rerr)
	}
	err := s.writeOn(c.sock, out)
	if err != nil && socket.IsPackError(err) {
		// The result cannot be sent (cannot be encoded, too large): tell
		// the caller instead of leaving it waiting.
		c.replaceReply(rerrInternal.withDetail(fmt.Sprintf("reply of %s: %v", c.input.Uri(), err)))
		err = s.writeOn(c.sock, out)
	}
	if err != nil {
		Debugf("tp: session %s: reply to %s (seq %d) not sent: %v", s.Id(), c.input.Uri(), c.input.Seq(), err)
	} else {
		c.runWriteReplyHooks("PostWriteReply", local, false)
	}
	s.logHandled(c, "pull")
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
