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
//	PreReadHeader       before a packet is read (an error closes the session)
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
	Name() string
}

// The hook interfaces. Each method's *Rerror, when not nil, stops the
// stage as described on Plugin.
type (
	PostRegPlugin interface {
		Plugin
		PostReg(*Handler) *Rerror
	}
	PostDialPlugin interface {
		Plugin
		PostDial(PreSession) *Rerror
	}
	PostAcceptPlugin interface {
		Plugin
		PostAccept(PreSession) *Rerror
	}
	PreWritePullPlugin interface {
		Plugin
		PreWritePull(WriteCtx) *Rerror
	}
	PostWritePullPlugin interface {
		Plugin
		PostWritePull(WriteCtx) *Rerror
	}
	PreWriteReplyPlugin interface {
		Plugin
		PreWriteReply(WriteCtx) *Rerror
	}
	PostWriteReplyPlugin interface {
		Plugin
		PostWriteReply(WriteCtx) *Rerror
	}
	PreWritePushPlugin interface {
		Plugin
		PreWritePush(WriteCtx) *Rerror
	}
	PostWritePushPlugin interface {
		Plugin
		PostWritePush(WriteCtx) *Rerror
	}
	PreReadHeaderPlugin interface {
		Plugin
		PreReadHeader(BackgroundCtx) *Rerror
	}
	PostReadPullHeaderPlugin interface {
		Plugin
		PostReadPullHeader(ReadCtx) *Rerror
	}
	PreReadPullBodyPlugin interface {
		Plugin
		PreReadPullBody(ReadCtx) *Rerror
	}
	PostReadPullBodyPlugin interface {
		Plugin
		PostReadPullBody(ReadCtx) *Rerror
	}
	PostReadPushHeaderPlugin interface {
		Plugin
		PostReadPushHeader(ReadCtx) *Rerror
	}
	PreReadPushBodyPlugin interface {
		Plugin
		PreReadPushBody(ReadCtx) *Rerror
	}
	PostReadPushBodyPlugin interface {
		Plugin
		PostReadPushBody(ReadCtx) *Rerror
	}
	PostReadReplyHeaderPlugin interface {
		Plugin
		PostReadReplyHeader(ReadCtx) *Rerror
	}
	PreReadReplyBodyPlugin interface {
		Plugin
		PreReadReplyBody(ReadCtx) *Rerror
	}
	PostReadReplyBodyPlugin interface {
		Plugin
		PostReadReplyBody(ReadCtx) *Rerror
	}
	PostDisconnectPlugin interface {
		Plugin
		PostDisconnect(PostSession) *Rerror
	}
	// PostListenPlugin learns each address the peer serves, once Serve
	// (or Listen) has it, before the first accept.
	PostListenPlugin interface {
		Plugin
		PostListen(peer *Peer, addr net.Addr) *Rerror
	}
	// PreClosePlugin runs once, first thing in Close (and Shutdown),
	// while the peer still serves everyone: a registry plugin takes the
	// peer out of the registry before the goaways tell clients to leave.
	PreClosePlugin interface {
		Plugin
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
		PostReadPushHeaderPlugin, PreReadPushBodyPlugin, PostReadPushBodyPlugin:
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
			Errorf("tp: panic in plugin %q %s: %v\n%s", h.Name(), stage, r, debug.Stack())
			rerr = rerrInternal.withDetail(fmt.Sprintf("panic in plugin %q %s: %v", h.Name(), stage, r))
		}
	}()
	return call(h, ctx)
}
