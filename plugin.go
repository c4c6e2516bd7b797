package tp

import (
	"fmt"
	"net"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Plugin is anything with a unique name that implements one or more of the
// hook interfaces below. The hooks, in the order a connection meets them:
//
//	PostReg             a handler was registered (an error panics Reg)
//	PostListen          the peer started serving a listener (peer plugins only)
//	PostDial            a dial connected, before the read loop (an error refuses it)
//	PostAccept          a connection was accepted, before the read loop (an error refuses it)
//	PreWritePull        before a pull is sent (an error is the caller's; nothing is sent)
//	PostWritePull       after a pull was sent
//	PreWriteReply       before a reply is sent (an error replaces the reply)
//	PostWriteReply      after a reply was sent
//	PreWritePush        before a push is sent (an error is the caller's; nothing is sent)
//	PostWritePush       after a push was sent
//	PreReadHeader       once a packet begins to arrive, before it is read (an error closes the session)
//	PostReadPullHeader  a pull's header was read, before routing (an error answers the pull)
//	PreReadPullBody     before a pull's body is decoded (an error answers the pull)
//	PostReadPullBody    after a pull's body was decoded (an error answers the pull)
//	PostReadPushHeader  a push's header was read (an error drops the push)
//	PreReadPushBody     before a push's body is decoded (an error drops the push)
//	PostReadPushBody    after a push's body was decoded (an error drops the push)
//	PostReadReplyHeader a reply's header was read (an error ends the pull with it)
//	PreReadReplyBody    before a reply's body is decoded (an error ends the pull with it)
//	PostReadReplyBody   after a reply's body was decoded (an error ends the pull with it)
//	PostDisconnect      a session closed, once, whoever closed it
//	PreClose            Close began, before the listeners close and the goaways (peer plugins only)
//
// The errors of PostListen, PostWritePull, PostWriteReply, PostWritePush,
// PostDisconnect and PreClose are logged at DEBUG and otherwise ignored,
// but still stop the plugins after them for that hook.
//
// Peer plugins run first, then those of each enclosing Router.Group, then
// those given to Reg. Group and route plugins take part only in the hooks
// that run once a message is routed (PostReg, the pull and push read hooks,
// PreWriteReply, PostWriteReply); Group and Reg refuse a plugin with none of
// these.
type Plugin interface {
	// Name returns the plugin's name, unique within a container.
	Name() string
}

// The hook interfaces. Each method's *Rerror, when not nil, stops the
// stage as described on Plugin.
type (
	// PostRegPlugin runs when a handler is registered; an error makes Reg panic with it.
	PostRegPlugin interface {
		Plugin
		// PostReg sees the handler just registered: its route, argument and reply types.
		PostReg(*Handler) *Rerror
	}
	// PostDialPlugin runs on each dialed connection (a redial included) before its read loop starts.
	PostDialPlugin interface {
		Plugin
		// PostDial may handshake through the session's Send and Receive; an error closes the connection and fails the dial.
		PostDial(PreSession) *Rerror
	}
	// PostAcceptPlugin runs on each accepted connection before its read loop starts.
	PostAcceptPlugin interface {
		Plugin
		// PostAccept may handshake through the session's Send and Receive; an error closes the connection.
		PostAccept(PreSession) *Rerror
	}
	// PreWritePullPlugin runs before a pull is written.
	PreWritePullPlugin interface {
		Plugin
		// PreWritePull may change the pull; an error ends the pull with it, unsent.
		PreWritePull(WriteCtx) *Rerror
	}
	// PostWritePullPlugin runs after a pull was written.
	PostWritePullPlugin interface {
		Plugin
		// PostWritePull sees the pull as sent.
		PostWritePull(WriteCtx) *Rerror
	}
	// PreWriteReplyPlugin runs before a reply is written.
	PreWriteReplyPlugin interface {
		Plugin
		// PreWriteReply may change the reply; an error replaces the reply with it.
		PreWriteReply(WriteCtx) *Rerror
	}
	// PostWriteReplyPlugin runs after a reply was written.
	PostWriteReplyPlugin interface {
		Plugin
		// PostWriteReply sees the reply as sent.
		PostWriteReply(WriteCtx) *Rerror
	}
	// PreWritePushPlugin runs before a push is written.
	PreWritePushPlugin interface {
		Plugin
		// PreWritePush may change the push; an error makes Push return it, unsent.
		PreWritePush(WriteCtx) *Rerror
	}
	// PostWritePushPlugin runs after a push was written.
	PostWritePushPlugin interface {
		Plugin
		// PostWritePush sees the push as sent.
		PostWritePush(WriteCtx) *Rerror
	}
	// PreReadHeaderPlugin runs in the read loop once per packet, when its
	// first bytes have arrived and before its header is read.
	PreReadHeaderPlugin interface {
		Plugin
		// PreReadHeader runs before the packet is read; an error closes
		// the session.
		PreReadHeader(BackgroundCtx) *Rerror
	}
	// PostReadPullHeaderPlugin runs once a pull's header is read, before and after routing (the peer's plugins before, the route's after).
	PostReadPullHeaderPlugin interface {
		Plugin
		// PostReadPullHeader may change the URI or metadata; an error answers the pull with it.
		PostReadPullHeader(ReadCtx) *Rerror
	}
	// PreReadPullBodyPlugin runs before a pull's body is decoded.
	PreReadPullBodyPlugin interface {
		Plugin
		// PreReadPullBody may inspect the input; an error answers the pull with it.
		PreReadPullBody(ReadCtx) *Rerror
	}
	// PostReadPullBodyPlugin runs after a pull's body is decoded, before its handler.
	PostReadPullBodyPlugin interface {
		Plugin
		// PostReadPullBody may inspect the decoded argument; an error answers the pull with it.
		PostReadPullBody(ReadCtx) *Rerror
	}
	// PostReadPushHeaderPlugin runs once a push's header is read, before and after routing.
	PostReadPushHeaderPlugin interface {
		Plugin
		// PostReadPushHeader may change the URI or metadata; an error drops the push.
		PostReadPushHeader(ReadCtx) *Rerror
	}
	// PreReadPushBodyPlugin runs before a push's body is decoded.
	PreReadPushBodyPlugin interface {
		Plugin
		// PreReadPushBody may inspect the input; an error drops the push.
		PreReadPushBody(ReadCtx) *Rerror
	}
	// PostReadPushBodyPlugin runs after a push's body is decoded, before its handler.
	PostReadPushBodyPlugin interface {
		Plugin
		// PostReadPushBody may inspect the decoded argument; an error drops the push.
		PostReadPushBody(ReadCtx) *Rerror
	}
	// PostReadReplyHeaderPlugin runs once a reply's header is read, when its pull is still waiting.
	PostReadReplyHeaderPlugin interface {
		Plugin
		// PostReadReplyHeader sees the reply's header; an error ends the pull with it.
		PostReadReplyHeader(ReadCtx) *Rerror
	}
	// PreReadReplyBodyPlugin runs before a reply's body is decoded.
	PreReadReplyBodyPlugin interface {
		Plugin
		// PreReadReplyBody may inspect the reply; an error ends the pull with it.
		PreReadReplyBody(ReadCtx) *Rerror
	}
	// PostReadReplyBodyPlugin runs after a reply's body is decoded.
	PostReadReplyBodyPlugin interface {
		Plugin
		// PostReadReplyBody sees the decoded reply; an error ends the pull with it.
		PostReadReplyBody(ReadCtx) *Rerror
	}
	// PostDisconnectPlugin runs once when a session closes, however it closed.
	PostDisconnectPlugin interface {
		Plugin
		// PostDisconnect sees the closed session; its error is only logged.
		PostDisconnect(PostSession) *Rerror
	}
	// PreStreamOpenPlugin runs on the side opening a stream, before the
	// open is written.
	PreStreamOpenPlugin interface {
		Plugin
		// PreStreamOpen may change the open's metadata (OpenMeta); an
		// error refuses the open with it.
		PreStreamOpen(StreamInfo) *Rerror
	}
	// PostStreamAcceptPlugin runs on the side accepting a stream, once it
	// is routed, before its handler: the peer's hooks, then the route's.
	PostStreamAcceptPlugin interface {
		Plugin
		// PostStreamAccept may inspect the open (OpenMeta); an error
		// refuses the stream with it, and the handler does not run.
		PostStreamAccept(StreamInfo) *Rerror
	}
	// StreamMsgPlugin runs for every message a stream sends or receives,
	// on either side; a peer without such a plugin pays nothing for it.
	StreamMsgPlugin interface {
		Plugin
		// StreamMsg sees a message of size bytes, sent when sent, else
		// received; its error is only logged.
		StreamMsg(info StreamInfo, sent bool, size int) *Rerror
	}
	// PostStreamEndPlugin runs once when a stream ends, on either side,
	// however it ended (Err says how).
	PostStreamEndPlugin interface {
		Plugin
		// PostStreamEnd sees the ended stream; its error is only logged.
		PostStreamEnd(StreamInfo) *Rerror
	}
	// PostListenPlugin learns each address the peer serves, once Serve
	// (or Listen) has it, before the first accept.
	PostListenPlugin interface {
		Plugin
		// PostListen learns that peer now serves addr; its error is only
		// logged.
		PostListen(peer *Peer, addr net.Addr) *Rerror
	}
	// PreClosePlugin runs once, first thing in Close (and Shutdown),
	// while the peer still serves everyone: a registry plugin takes the
	// peer out of the registry before the goaways tell clients to leave.
	PreClosePlugin interface {
		Plugin
		// PreClose runs before peer stops serving; its error is only
		// logged.
		PreClose(peer *Peer) *Rerror
	}
)

// PluginContainer holds the plugins of a peer, a router group or a route.
type PluginContainer interface {
	// Add appends plugins. It fails, adding none, for a nil plugin, a
	// duplicate name, or a plugin that implements no hook.
	Add(plugins ...Plugin) error
	// Remove removes the plugin named pluginName.
	Remove(pluginName string) error
	// GetByName returns the plugin named pluginName, or nil.
	GetByName(pluginName string) Plugin
	// GetAll returns the plugins in the order added.
	GetAll() []Plugin
}

// pluginContainer sorts its plugins into one slice per hook whenever the
// set changes, so calling a hook is a range over a slice, and a hook no
// plugin implements costs a nil check.
type pluginContainer struct {
	// mu guards plugins and serialises changes.
	mu      sync.Mutex
	plugins []Plugin
	hooks   atomic.Pointer[pluginHooks]
}

var _ PluginContainer = (*pluginContainer)(nil)

type pluginHooks struct {
	postReg             []PostRegPlugin
	postDial            []PostDialPlugin
	postAccept          []PostAcceptPlugin
	preWritePull        []PreWritePullPlugin
	postWritePull       []PostWritePullPlugin
	preWriteReply       []PreWriteReplyPlugin
	postWriteReply      []PostWriteReplyPlugin
	preWritePush        []PreWritePushPlugin
	postWritePush       []PostWritePushPlugin
	preReadHeader       []PreReadHeaderPlugin
	postReadPullHeader  []PostReadPullHeaderPlugin
	preReadPullBody     []PreReadPullBodyPlugin
	postReadPullBody    []PostReadPullBodyPlugin
	postReadPushHeader  []PostReadPushHeaderPlugin
	preReadPushBody     []PreReadPushBodyPlugin
	postReadPushBody    []PostReadPushBodyPlugin
	postReadReplyHeader []PostReadReplyHeaderPlugin
	preReadReplyBody    []PreReadReplyBodyPlugin
	postReadReplyBody   []PostReadReplyBodyPlugin
	postDisconnect      []PostDisconnectPlugin
	preStreamOpen       []PreStreamOpenPlugin
	postStreamAccept    []PostStreamAcceptPlugin
	streamMsg           []StreamMsgPlugin
	postStreamEnd       []PostStreamEndPlugin
	postListen          []PostListenPlugin
	preClose            []PreClosePlugin
}

func newPluginContainer(plugins ...Plugin) (*pluginContainer, error) {
	c := new(pluginContainer)
	c.hooks.Store(new(pluginHooks))
	return c, c.Add(plugins...)
}

// cloneAdd returns a new container holding c's plugins and then plugins.
func (c *pluginContainer) cloneAdd(plugins ...Plugin) (*pluginContainer, error) {
	return newPluginContainer(append(c.GetAll(), plugins...)...)
}

func (c *pluginContainer) Add(plugins ...Plugin) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := append([]Plugin(nil), c.plugins...)
	for _, p := range plugins {
		if p == nil {
			return fmt.Errorf("tp: add plugin: nil plugin")
		}
		name := p.Name()
		for _, old := range all {
			if old.Name() == name {
				return fmt.Errorf("tp: add plugin %q: a plugin with that name is already added", name)
			}
		}
		if !implementsAnyHook(p) {
			return fmt.Errorf("tp: add plugin %q (%T): it implements no hook interface", name, p)
		}
		all = append(all, p)
	}
	c.plugins = all
	c.hooks.Store(sortHooks(all))
	return nil
}

func (c *pluginContainer) Remove(pluginName string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.plugins {
		if p.Name() == pluginName {
			all := append(append([]Plugin(nil), c.plugins[:i]...), c.plugins[i+1:]...)
			c.plugins = all
			c.hooks.Store(sortHooks(all))
			return nil
		}
	}
	return fmt.Errorf("tp: remove plugin %q: no such plugin", pluginName)
}

func (c *pluginContainer) GetByName(pluginName string) Plugin {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.plugins {
		if p.Name() == pluginName {
			return p
		}
	}
	return nil
}

func (c *pluginContainer) GetAll() []Plugin {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Plugin(nil), c.plugins...)
}

// get returns the current per-hook slices; never nil.
func (c *pluginContainer) get() *pluginHooks { return c.hooks.Load() }

func sortHooks(plugins []Plugin) *pluginHooks {
	h := new(pluginHooks)
	for _, p := range plugins {
		addHook(&h.postReg, p)
		addHook(&h.postDial, p)
		addHook(&h.postAccept, p)
		addHook(&h.preWritePull, p)
		addHook(&h.postWritePull, p)
		addHook(&h.preWriteReply, p)
		addHook(&h.postWriteReply, p)
		addHook(&h.preWritePush, p)
		addHook(&h.postWritePush, p)
		addHook(&h.preReadHeader, p)
		addHook(&h.postReadPullHeader, p)
		addHook(&h.preReadPullBody, p)
		addHook(&h.postReadPullBody, p)
		addHook(&h.postReadPushHeader, p)
		addHook(&h.preReadPushBody, p)
		addHook(&h.postReadPushBody, p)
		addHook(&h.postReadReplyHeader, p)
		addHook(&h.preReadReplyBody, p)
		addHook(&h.postReadReplyBody, p)
		addHook(&h.postDisconnect, p)
		addHook(&h.preStreamOpen, p)
		addHook(&h.postStreamAccept, p)
		addHook(&h.streamMsg, p)
		addHook(&h.postStreamEnd, p)
		addHook(&h.postListen, p)
		addHook(&h.preClose, p)
	}
	return h
}

// implementsRouteHook reports whether p has a hook that runs for a group's
// or a route's plugins.
func implementsRouteHook(p Plugin) bool {
	switch p.(type) {
	case PostRegPlugin, PreWriteReplyPlugin, PostWriteReplyPlugin,
		PostReadPullHeaderPlugin, PreReadPullBodyPlugin, PostReadPullBodyPlugin,
		PostReadPushHeaderPlugin, PreReadPushBodyPlugin, PostReadPushBodyPlugin,
		PostStreamAcceptPlugin:
		return true
	}
	return false
}

func implementsAnyHook(p Plugin) bool {
	h := sortHooks([]Plugin{p})
	return !reflect.ValueOf(h).Elem().IsZero()
}

func addHook[T any](hooks *[]T, p Plugin) {
	if h, ok := p.(T); ok {
		*hooks = append(*hooks, h)
	}
}

// runHooks calls each hook in order and stops at the first error, which it
// logs with the plugin's name and the stage.
func runHooks[T Plugin, C any](stage string, hooks []T, ctx C, call func(T, C) *Rerror) *Rerror {
	for _, h := range hooks {
		if rerr := callHook(stage, h, ctx, call); rerr != nil {
			if enabled(levelDebug) {
				Debugf("tp: plugin %q %s: %s", h.Name(), stage, rerr)
			}
			return rerr
		}
	}
	return nil
}

// callHook calls one hook; a panic in it becomes CodeInternalServerError
// for that stage, logged with its stack, instead of the end of the process
// (most hooks run on a session's read loop).
func callHook[T Plugin, C any](stage string, h T, ctx C, call func(T, C) *Rerror) (rerr *Rerror) {
	defer func() {
		if r := recover(); r != nil {
			errorWithStack(debug.Stack(), "tp: panic in plugin %q %s: %v", h.Name(), stage, r)
			rerr = rerrInternal.withDetail(fmt.Sprintf("panic in plugin %q %s: %v", h.Name(), stage, r))
		}
	}()
	return call(h, ctx)
}
