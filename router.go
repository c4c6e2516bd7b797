package tp

import (
	"fmt"
	"path"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/henrylee2cn/goutil"
)

// Router maps URIs to the handlers of one packet type, pull or push. Groups
// share their parent's table and add a path prefix and plugins.
type Router struct {
	table   *routeTable
	typ     byte // TypePull or TypePush
	prefix  string
	plugins *pluginContainer // the groups' plugins, not the peer's
	peer    *Peer
}

// routeTable is read on every message and written only by Reg: readers
// load an immutable map, writers copy it under mu.
type routeTable struct {
	// mu serialises writers of the fields below.
	mu       sync.Mutex
	handlers atomic.Pointer[map[string]*Handler]
	unknown  atomic.Pointer[Handler]
}

func newRouter(peer *Peer, typ byte) *Router {
	t := new(routeTable)
	t.handlers.Store(&map[string]*Handler{})
	plugins, _ := newPluginContainer()
	return &Router{table: t, typ: typ, prefix: "/", plugins: plugins, peer: peer}
}

// Handler is a registered route: its name and types, computed once at Reg.
type Handler struct {
	name          string
	method        string // the controller's method, for messages
	typ           byte
	isUnknown     bool
	argElem       reflect.Type
	reply         reflect.Type
	plugins       *pluginContainer
	handleFunc    func(c *handlerCtx)
	streamFunc    func(*stream, reflect.Value) *Rerror
	pullUnknownFn func(UnknownPullCtx) (interface{}, *Rerror)
	pushUnknownFn func(UnknownPushCtx)
}

// Name returns the route, e.g. "/home/test_add".
func (h *Handler) Name() string { return h.name }

// ArgElemType returns the type the argument pointer points to.
func (h *Handler) ArgElemType() reflect.Type { return h.argElem }

// ReplyType returns the reply type of a pull handler, nil for push.
func (h *Handler) ReplyType() reflect.Type { return h.reply }

// IsPull reports whether h handles pulls.
func (h *Handler) IsPull() bool { return h.typ == TypePull }

// IsPush reports whether h handles pushes.
func (h *Handler) IsPush() bool { return h.typ == TypePush }

// IsStream reports whether h handles streams.
func (h *Handler) IsStream() bool { return h.typ == TypeStreamOpen }

// IsUnknown reports whether h is the handler of unmatched routes.
func (h *Handler) IsUnknown() bool { return h.isUnknown }

// Group returns a router whose routes are under pathPrefix and run plugin
// after the plugins of r. It panics, naming the plugin, when a plugin
// cannot be added.
func (r *Router) Group(pathPrefix string, plugin ...Plugin) *Router {
	plugins, err := r.routePlugins(plugin)
	if err != nil {
		panic(fmt.Sprintf("tp: Group(%q): %v", pathPrefix, err))
	}
	return &Router{table: r.table, typ: r.typ, prefix: path.Join(r.prefix, pathPrefix), plugins: plugins, peer: r.peer}
}

// routePlugins returns r's plugins followed by plugin, refusing a plugin
// whose hooks would never run for a route.
func (r *Router) routePlugins(plugin []Plugin) (*pluginContainer, error) {
	for _, p := range plugin {
		if p != nil && !implementsRouteHook(p) {
			return nil, fmt.Errorf("tp: plugin %q (%T) has no hook that runs for a group or route (add it to the peer)", p.Name(), p)
		}
	}
	return r.plugins.cloneAdd(plugin...)
}

// get returns the handler of path, the unknown handler, or nil.
func (r *Router) get(path string) *Handler {
	if h := (*r.table.handlers.Load())[path]; h != nil {
		return h
	}
	return r.table.unknown.Load()
}

// Reg registers the exported methods of ctrlStruct, a pointer to a
// controller struct, as routes /<prefix>/<snake type>/<snake method>. It
// panics with a message naming the controller, the method and the broken
// rule when the controller is invalid, and when a route is taken.
func (r *Router) Reg(ctrlStruct interface{}, plugin ...Plugin) {
	plugins, err := r.routePlugins(plugin)
	if err != nil {
		panic(fmt.Sprintf("tp: Reg(%T): %v", ctrlStruct, err))
	}
	handlers, err := makeHandlers(r.typ, r.prefix, ctrlStruct, plugins)
	if err != nil {
		panic(err.Error())
	}
	r.table.mu.Lock()
	defer r.table.mu.Unlock()
	old := *r.table.handlers.Load()
	m := make(map[string]*Handler, len(old)+len(handlers))
	for k, v := range old {
		m[k] = v
	}
	for _, h := range handlers {
		if old, dup := m[h.name]; dup {
			panic(fmt.Sprintf("tp: register %s handler %s: route %q is already registered (by %s)", ptypeName(r.typ), h.method, h.name, old.method))
		}
		m[h.name] = h
	}
	for _, h := range handlers {
		r.postReg(h)
	}
	r.table.handlers.Store(&m)
	for _, h := range handlers {
		Infof("tp: registered %s handler %s", ptypeName(r.typ), h.name)
	}
}

// SetUnknown sets the handler of routes no controller matched:
// func(UnknownPullCtx) (interface{}, *Rerror) on the pull router,
// func(UnknownPushCtx) on the push router. Another type panics.
func (r *Router) SetUnknown(unknownHandler interface{}, plugin ...Plugin) {
	plugins, err := r.routePlugins(plugin)
	if err != nil {
		panic(fmt.Sprintf("tp: SetUnknown: %v", err))
	}
	h := &Handler{name: "unknown_" + ptypeName(r.typ), typ: r.typ, isUnknown: true, plugins: plugins}
	switch fn := unknownHandler.(type) {
	case func(UnknownPullCtx) (interface{}, *Rerror):
		if r.typ != TypePull {
			panic(fmt.Sprintf("tp: SetUnknown: %T is a pull handler, given to the %s router", unknownHandler, ptypeName(r.typ)))
		}
		h.pullUnknownFn = fn
		h.reply = reflect.TypeOf((*interface{})(nil)).Elem()
	case func(UnknownPushCtx):
		if r.typ != TypePush {
			panic(fmt.Sprintf("tp: SetUnknown: %T is a push handler, given to the %s router", unknownHandler, ptypeName(r.typ)))
		}
		h.pushUnknownFn = fn
	default:
		panic(fmt.Sprintf("tp: SetUnknown: %T is not func(UnknownPullCtx) (interface{}, *tp.Rerror) nor func(UnknownPushCtx)", unknownHandler))
	}
	r.postReg(h)
	r.table.unknown.Store(h)
}

// postReg runs the PostReg hooks; an error is a registration failure.
func (r *Router) postReg(h *Handler) {
	var peerHooks []PostRegPlugin
	if r.peer != nil {
		peerHooks = r.peer.plugins.get().postReg
	}
	for _, hooks := range [][]PostRegPlugin{peerHooks, h.plugins.get().postReg} {
		if rerr := runHooks("PostReg", hooks, h, PostRegPlugin.PostReg); rerr != nil {
			panic(fmt.Sprintf("tp: register %s: PostReg plugin failed: %s", h.name, rerr))
		}
	}
}

func ptypeName(typ byte) string {
	switch typ {
	case TypePull:
		return "pull"
	case TypeReply:
		return "reply"
	case TypePush:
		return "push"
	case TypeStreamOpen:
		return "stream"
	}
	return fmt.Sprintf("type-%d", typ)
}

var (
	pullCtxType = reflect.TypeOf((*PullCtx)(nil)).Elem()
	pushCtxType = reflect.TypeOf((*PushCtx)(nil)).Elem()
	rerrorType  = reflect.TypeOf((*Rerror)(nil))
)

// ctrlInfo is what Reg learns about a controller type once.
type ctrlInfo struct {
	typ       reflect.Type // pointer to struct
	ctxOffset uintptr      // of the embedded context field
	skip      map[string]bool
	pool      *sync.Pool // of *ctrlObj holding zeroed structs
}

// ctrlObj is a pooled controller: the struct and the address of its
// embedded context, found once.
type ctrlObj struct {
	v   reflect.Value
	ctx unsafe.Pointer
}

// inspectCtrl checks the controller rules common to pull and push.
func inspectCtrl(kind string, ctrlStruct interface{}, ctxType reflect.Type) (*ctrlInfo, error) {
	t := reflect.TypeOf(ctrlStruct)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("tp: register %s controller %v: must be a pointer to a struct", kind, t)
	}
	field, ok := t.Elem().FieldByName(ctxType.Name())
	if !ok || !field.Anonymous || field.Type != ctxType || len(field.Index) != 1 {
		return nil, fmt.Errorf("tp: register %s controller %v: must embed tp.%s anonymously", kind, t, ctxType.Name())
	}
	skip := make(map[string]bool, ctxType.NumMethod())
	for i := 0; i < ctxType.NumMethod(); i++ {
		skip[ctxType.Method(i).Name] = true
	}
	elem, offset := t.Elem(), field.Offset
	return &ctrlInfo{
		typ:       t,
		ctxOffset: offset,
		skip:      skip,
		pool: &sync.Pool{New: func() any {
			v := reflect.New(elem)
			return &ctrlObj{v: v, ctx: unsafe.Add(v.UnsafePointer(), offset)}
		}},
	}, nil
}

func routeName(prefix string, ctrlType reflect.Type, method string) string {
	return path.Join("/", prefix, goutil.SnakeString(ctrlType.Elem().Name()), goutil.SnakeString(method))
}

// makeHandlers inspects a pull (typ TypePull) or push controller and makes
// a handler of each of its methods, or reports the first broken rule.
func makeHandlers(typ byte, prefix string, ctrlStruct interface{}, plugins *pluginContainer) ([]*Handler, error) {
	kind, ctxType := "pull", pullCtxType
	switch typ {
	case TypePush:
		kind, ctxType = "push", pushCtxType
	case TypeStreamOpen:
		kind, ctxType = "stream", streamCtxType
	}
	ci, err := inspectCtrl(kind, ctrlStruct, ctxType)
	if err != nil {
		return nil, err
	}
	var handlers []*Handler
	for i := 0; i < ci.typ.NumMethod(); i++ {
		m := ci.typ.Method(i)
		if ci.skip[m.Name] {
			continue
		}
		where := fmt.Sprintf("tp: register %s handler %v.%s", kind, ci.typ, m.Name)
		mt := m.Type
		if mt.NumIn() != 2 {
			return nil, fmt.Errorf("%s: must take exactly one argument (*T), takes %d", where, mt.NumIn()-1)
		}
		argType := mt.In(1)
		if argType.Kind() != reflect.Pointer {
			return nil, fmt.Errorf("%s: argument %v must be a pointer", where, argType)
		}
		if !goutil.IsExportedOrBuiltinType(argType) {
			return nil, fmt.Errorf("%s: argument type %v must be exported or builtin", where, argType)
		}
		h := &Handler{
			name:    routeName(prefix, ci.typ, m.Name),
			method:  ci.typ.String() + "." + m.Name,
			typ:     typ,
			argElem: argType.Elem(),
			plugins: plugins,
		}
		if typ == TypeStreamOpen {
			if mt.NumOut() != 1 || mt.Out(0) != rerrorType {
				return nil, fmt.Errorf("%s: must return *tp.Rerror alone", where)
			}
			h.streamFunc = streamHandleFunc(ci, m.Func)
			handlers = append(handlers, h)
			continue
		}
		if typ == TypePush {
			if mt.NumOut() != 0 {
				return nil, fmt.Errorf("%s: must return nothing, returns %d values", where, mt.NumOut())
			}
			h.handleFunc = handleFunc(ci, m.Func, false)
			handlers = append(handlers, h)
			continue
		}
		if mt.NumOut() != 2 {
			return nil, fmt.Errorf("%s: must return (R, *tp.Rerror), returns %d values", where, mt.NumOut())
		}
		h.reply = mt.Out(0)
		if !goutil.IsExportedOrBuiltinType(h.reply) {
			return nil, fmt.Errorf("%s: reply type %v must be exported or builtin", where, h.reply)
		}
		if mt.Out(1) != rerrorType {
			return nil, fmt.Errorf("%s: second result must be *tp.Rerror, is %v", where, mt.Out(1))
		}
		h.handleFunc = handleFunc(ci, m.Func, true)
		handlers = append(handlers, h)
	}
	if len(handlers) == 0 {
		return nil, fmt.Errorf("tp: register %s controller %v: has no exported handler method", kind, ci.typ)
	}
	return handlers, nil
}

// handleFunc calls method on a pooled controller whose embedded PullCtx
// (pull) or PushCtx is set to the message's context; a pull's result
// becomes the reply. The method is called directly where its shape allows
// (see directCall), through reflection otherwise.
func handleFunc(ci *ctrlInfo, method reflect.Value, pull bool) func(*handlerCtx) {
	direct := makeDirectCall(method, pull)
	return func(c *handlerCtx) {
		ctrl := ci.pool.Get().(*ctrlObj)
		if pull {
			*(*PullCtx)(ctrl.ctx) = c
		} else {
			*(*PushCtx)(ctrl.ctx) = c
		}
		defer func() {
			ctrl.v.Elem().SetZero()
			ci.pool.Put(ctrl)
		}()
		var (
			body interface{}
			rerr *Rerror
		)
		if direct.ok() {
			body, rerr = direct.call(ctrl.v.UnsafePointer(), c.arg.UnsafePointer())
		} else {
			c.callArgs[0], c.callArgs[1] = ctrl.v, c.arg
			rets := method.Call(c.callArgs[:])
			if pull {
				body, rerr = rets[0].Interface(), rets[1].Interface().(*Rerror)
			}
		}
		switch {
		case !pull:
		case rerr != nil:
			c.rerr = rerr
		default:
			c.output.SetBody(body)
		}
	}
}
