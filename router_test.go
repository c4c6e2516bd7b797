package tp

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// unexportedT is a type handlers may neither take nor return.
type unexportedT struct{ N int }

// Controllers that each break one rule of §4.2.
type (
	ctrlValue      struct{ PullCtx }
	ctrlInt        int
	ctrlNoCtx      struct{ Name string }
	ctrlNamedCtx   struct{ Ctx PullCtx }
	ctrlNoArg      struct{ PullCtx }
	ctrlTwoArgs    struct{ PullCtx }
	ctrlArgValue   struct{ PullCtx }
	ctrlArgUnexp   struct{ PullCtx }
	ctrlReplyUnexp struct{ PullCtx }
	ctrlOneResult  struct{ PullCtx }
	ctrlThreeRes   struct{ PullCtx }
	ctrlErrResult  struct{ PullCtx }
	ctrlEmpty      struct{ PullCtx }
	ctrlSameRoute  struct{ PullCtx } // GetURL and GetUrl both snake to get_url
	pushNoArg      struct{ PushCtx }
	pushArgValue   struct{ PushCtx }
	pushArgUnexp   struct{ PushCtx }
	pushReturns    struct{ PushCtx }
	pushEmpty      struct{ PushCtx }
)

func (ctrlValue) Get(*int) (int, *Rerror)                      { return 0, nil }
func (*ctrlInt) Get(*int) (int, *Rerror)                       { return 0, nil }
func (*ctrlNoCtx) Get(*int) (int, *Rerror)                     { return 0, nil }
func (*ctrlNamedCtx) Get(*int) (int, *Rerror)                  { return 0, nil }
func (*ctrlNoArg) NoArg() (int, *Rerror)                       { return 0, nil }
func (*ctrlTwoArgs) TwoArgs(*int, *int) (int, *Rerror)         { return 0, nil }
func (*ctrlArgValue) ArgValue(int) (int, *Rerror)              { return 0, nil }
func (*ctrlArgUnexp) ArgUnexp(*unexportedT) (int, *Rerror)     { return 0, nil }
func (*ctrlReplyUnexp) ReplyUnexp(*int) (unexportedT, *Rerror) { return unexportedT{}, nil }
func (*ctrlOneResult) OneResult(*int) int                      { return 0 }
func (*ctrlThreeRes) ThreeRes(*int) (int, int, *Rerror)        { return 0, 0, nil }
func (*ctrlErrResult) ErrResult(*int) (int, error)             { return 0, nil }
func (*ctrlSameRoute) GetURL(*int) (int, *Rerror)              { return 0, nil }
func (*ctrlSameRoute) GetUrl(*int) (int, *Rerror)              { return 0, nil }
func (*pushNoArg) NoArg()                                      {}
func (*pushArgValue) ArgValue(string)                          {}
func (*pushArgUnexp) ArgUnexp(*unexportedT)                    {}
func (*pushReturns) Returns(*string) int                       { return 0 }

// HOME snakes to "home" like Home, so its routes collide with Home's.
type HOME struct{ PullCtx }

func (*HOME) TestAdd(*[2]int) (int, *Rerror) { return 0, nil }

// HTTPServer shows how runs of capitals are snaked.
type HTTPServer struct{ PullCtx }

func (*HTTPServer) GetURL(s *string) (string, *Rerror) { return *s, nil }

// Other is a second valid pull controller.
type Other struct{ PullCtx }

func (*Other) Ping(*struct{}) (string, *Rerror) { return "pong", nil }

// Stateful has a field of its own, which must not outlive a call.
type Stateful struct {
	PullCtx
	last int
}

// Remember stores n and answers what was stored before: always 0 when
// controllers are zeroed between calls.
func (c *Stateful) Remember(n *int) (int, *Rerror) {
	old := c.last
	c.last = *n
	return old, nil
}

// mustPanic runs fn and returns what it panicked with, as text.
func mustPanic(t *testing.T, what string, fn func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("%s did not panic", what)
		}
		msg = fmt.Sprint(r)
	}()
	fn()
	return ""
}

func TestRegRejectsInvalidControllers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(p *Peer) // registrations that must succeed first
		reg   func(p *Peer) // the registration that must panic
		want  []string      // substrings of the panic: controller, method, rule
	}{
		// A duplicate route names the first method (in name order) whose
		// route is taken, as well as the route.
		{name: "struct value, not a pointer",
			reg:  func(p *Peer) { p.PullRouter.Reg(ctrlValue{}) },
			want: []string{"tp.ctrlValue", "pointer to a struct"}},
		{name: "pointer to a non-struct",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlInt)) },
			want: []string{"*tp.ctrlInt", "pointer to a struct"}},
		{name: "nil controller",
			reg:  func(p *Peer) { p.PullRouter.Reg(nil) },
			want: []string{"nil", "pointer to a struct"}},
		{name: "no embedded context",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlNoCtx)) },
			want: []string{"*tp.ctrlNoCtx", "embed tp.PullCtx"}},
		{name: "context under a field name",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlNamedCtx)) },
			want: []string{"*tp.ctrlNamedCtx", "embed tp.PullCtx", "anonymously"}},
		{name: "push controller given to the pull router",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(Note)) },
			want: []string{"*tp.Note", "embed tp.PullCtx"}},
		{name: "pull controller given to the push router",
			reg:  func(p *Peer) { p.PushRouter.Reg(new(Home)) },
			want: []string{"*tp.Home", "embed tp.PushCtx"}},
		{name: "pull method without argument",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlNoArg)) },
			want: []string{"*tp.ctrlNoArg", "NoArg", "exactly one argument"}},
		{name: "pull method with two arguments",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlTwoArgs)) },
			want: []string{"*tp.ctrlTwoArgs", "TwoArgs", "exactly one argument"}},
		{name: "pull argument not a pointer",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlArgValue)) },
			want: []string{"*tp.ctrlArgValue", "ArgValue", "must be a pointer"}},
		{name: "pull argument of an unexported type",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlArgUnexp)) },
			want: []string{"*tp.ctrlArgUnexp", "ArgUnexp", "unexportedT", "exported or builtin"}},
		{name: "reply of an unexported type",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlReplyUnexp)) },
			want: []string{"*tp.ctrlReplyUnexp", "ReplyUnexp", "unexportedT", "exported or builtin"}},
		{name: "one result",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlOneResult)) },
			want: []string{"*tp.ctrlOneResult", "OneResult", "(R, *tp.Rerror)"}},
		{name: "three results",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlThreeRes)) },
			want: []string{"*tp.ctrlThreeRes", "ThreeRes", "(R, *tp.Rerror)"}},
		{name: "second result not *tp.Rerror",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlErrResult)) },
			want: []string{"*tp.ctrlErrResult", "ErrResult", "*tp.Rerror", "error"}},
		{name: "pull controller without handler methods",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlEmpty)) },
			want: []string{"*tp.ctrlEmpty", "no exported handler method"}},
		{name: "push method without argument",
			reg:  func(p *Peer) { p.PushRouter.Reg(new(pushNoArg)) },
			want: []string{"*tp.pushNoArg", "NoArg", "exactly one argument"}},
		{name: "push argument not a pointer",
			reg:  func(p *Peer) { p.PushRouter.Reg(new(pushArgValue)) },
			want: []string{"*tp.pushArgValue", "ArgValue", "must be a pointer"}},
		{name: "push argument of an unexported type",
			reg:  func(p *Peer) { p.PushRouter.Reg(new(pushArgUnexp)) },
			want: []string{"*tp.pushArgUnexp", "ArgUnexp", "unexportedT", "exported or builtin"}},
		{name: "push method returning a value",
			reg:  func(p *Peer) { p.PushRouter.Reg(new(pushReturns)) },
			want: []string{"*tp.pushReturns", "Returns", "return nothing"}},
		{name: "push controller without handler methods",
			reg:  func(p *Peer) { p.PushRouter.Reg(new(pushEmpty)) },
			want: []string{"*tp.pushEmpty", "no exported handler method"}},
		{name: "same controller registered twice",
			setup: func(p *Peer) { p.PullRouter.Reg(new(Home)) },
			reg:   func(p *Peer) { p.PullRouter.Reg(new(Home)) },
			want:  []string{"*tp.Home", "Bytes", "/home/bytes", "already registered"}},
		{name: "same push controller registered twice",
			setup: func(p *Peer) { p.PushRouter.Reg(new(Note)) },
			reg:   func(p *Peer) { p.PushRouter.Reg(new(Note)) },
			want:  []string{"*tp.Note", "Count", "/note/count", "already registered"}},
		{name: "two controllers on one route through groups",
			setup: func(p *Peer) { p.PullRouter.Group("v1").Group("api").Reg(new(Home)) },
			reg:   func(p *Peer) { p.PullRouter.Group("/v1/api/").Reg(new(HOME)) },
			want:  []string{"*tp.HOME", "TestAdd", "/v1/api/home/test_add", "already registered"}},
		{name: "two methods of one controller on one route",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(ctrlSameRoute)) },
			want: []string{"*tp.ctrlSameRoute", "GetUrl", "/ctrl_same_route/get_url", "already registered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := new(regRecorder)
			p := NewPeer(nil, rec)
			defer p.Close()
			if tt.setup != nil {
				tt.setup(p)
			}
			before := rec.names()
			msg := mustPanic(t, "Reg", func() { tt.reg(p) })
			t.Logf("panic: %s", msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("panic %q does not mention %q", msg, w)
				}
			}
			if ctrl := tt.want[0]; strings.Contains(msg, ctrl+"."+ctrl) {
				t.Errorf("panic %q names the controller twice in a row", msg)
			}
			// A rejected controller registers nothing.
			if after := rec.names(); len(after) != len(before) {
				t.Errorf("the rejected Reg registered %v", after[len(before):])
			}
		})
	}
}

// regRecorder is a PostReg plugin keeping every handler registered.
type regRecorder struct {
	// mu guards handlers.
	mu       sync.Mutex
	handlers []*Handler
}

func (r *regRecorder) Name() string { return "reg-recorder" }

func (r *regRecorder) PostReg(h *Handler) *Rerror {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers = append(r.handlers, h)
	return nil
}

func (r *regRecorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, h := range r.handlers {
		names = append(names, h.Name())
	}
	return names
}

// get returns the handler registered as name, or nil.
func (r *regRecorder) get(name string) *Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.handlers {
		if h.Name() == name {
			return h
		}
	}
	return nil
}

func TestRouteNaming(t *testing.T) {
	tests := []struct {
		name string
		reg  func(p *Peer)
		want []string // the routes, in method order
	}{
		{name: "controller and method snaked",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(Other)) },
			want: []string{"/other/ping"}},
		{name: "Home.TestAdd",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(Home)) },
			want: []string{"/home/bytes", "/home/bytes_ptr", "/home/ctx", "/home/echo", "/home/fail", "/home/meta", "/home/nothing", "/home/panic", "/home/sleep", "/home/test_add"}},
		{name: "nested groups, slashes cleaned",
			reg:  func(p *Peer) { p.PullRouter.Group("v1").Group("/api/").Reg(new(Other)) },
			want: []string{"/v1/api/other/ping"}},
		{name: "empty and root groups add nothing",
			reg:  func(p *Peer) { p.PullRouter.Group("").Group("/").Reg(new(Other)) },
			want: []string{"/other/ping"}},
		// goutil.SnakeString puts '_' only before a capital that follows a
		// lower-case letter or digit: a run of capitals stays one word, so
		// HTTPServer is "httpserver" (not "http_server"), GetURL "get_url".
		{name: "runs of capitals",
			reg:  func(p *Peer) { p.PullRouter.Reg(new(HTTPServer)) },
			want: []string{"/httpserver/get_url"}},
		{name: "push routes",
			reg:  func(p *Peer) { p.PushRouter.Group("events").Reg(new(Note)) },
			want: []string{"/events/note/count", "/events/note/panic", "/events/note/say"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := new(regRecorder)
			p := NewPeer(nil, rec)
			defer p.Close()
			tt.reg(p)
			if got := rec.names(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("routes = %q; want %q", got, tt.want)
			}
		})
	}
}

// The query of a URI plays no part in routing, through groups too.
func TestRouteIgnoresQuery(t *testing.T) {
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		srv.PullRouter.Group("v1").Group("/api/").Reg(new(Home))
		srv.PullRouter.Reg(new(HTTPServer))
	})
	var sum int
	if rerr := p.cliSess.Pull("/v1/api/home/test_add?x=1", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
		t.Fatalf("pull with a query = %d, %v; want 3, nil", sum, rerr)
	}
	var url string
	if rerr := p.cliSess.Pull("/httpserver/get_url?a=1&b=%2F", "u", &url).Rerror(); rerr != nil || url != "u" {
		t.Fatalf("pull /httpserver/get_url = %q, %v", url, rerr)
	}
	// The group prefix is part of the route: without it there is no route.
	if rerr := p.cliSess.Pull("/home/test_add?x=1", [2]int{1, 2}, &sum).Rerror(); rerr == nil || rerr.Code != CodeNotFound {
		t.Fatalf("pull outside the group = %v; want code %d", rerr, CodeNotFound)
	}
}

func TestSetUnknownWrongType(t *testing.T) {
	pullFn := func(UnknownPullCtx) (interface{}, *Rerror) { return nil, nil }
	pushFn := func(UnknownPushCtx) {}
	tests := []struct {
		name string
		set  func(p *Peer)
		want []string
	}{
		{name: "not a handler",
			set:  func(p *Peer) { p.PullRouter.SetUnknown(func() {}) },
			want: []string{"func()"}},
		{name: "almost a pull handler",
			set:  func(p *Peer) { p.PullRouter.SetUnknown(func(UnknownPullCtx) interface{} { return nil }) },
			want: []string{"func(tp.UnknownPullCtx) interface {}"}},
		{name: "nil",
			set:  func(p *Peer) { p.PushRouter.SetUnknown(nil) },
			want: []string{"nil"}},
		{name: "pull handler given to the push router",
			set:  func(p *Peer) { p.PushRouter.SetUnknown(pullFn) },
			want: []string{"func(tp.UnknownPullCtx) (interface {}, *tp.Rerror)", "push router"}},
		{name: "push handler given to the pull router",
			set:  func(p *Peer) { p.PullRouter.SetUnknown(pushFn) },
			want: []string{"func(tp.UnknownPushCtx)", "pull router"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := new(regRecorder)
			p := NewPeer(nil, rec)
			defer p.Close()
			msg := mustPanic(t, "SetUnknown", func() { tt.set(p) })
			t.Logf("panic: %s", msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("panic %q does not mention %q", msg, w)
				}
			}
			if got := rec.names(); len(got) != 0 {
				t.Errorf("the rejected SetUnknown registered %v", got)
			}
		})
	}
}

func TestHandlerAccessors(t *testing.T) {
	rec := new(regRecorder)
	p := NewPeer(nil, rec)
	defer p.Close()
	p.PullRouter.Reg(new(Home))
	p.PushRouter.Reg(new(Note))
	p.PullRouter.SetUnknown(func(UnknownPullCtx) (interface{}, *Rerror) { return nil, nil })
	p.PushRouter.SetUnknown(func(UnknownPushCtx) {})

	var unknownPull, unknownPush *Handler
	for _, h := range rec.handlers {
		switch {
		case h.IsUnknown() && h.IsPull():
			unknownPull = h
		case h.IsUnknown() && h.IsPush():
			unknownPush = h
		}
	}
	if unknownPull == nil || unknownPush == nil {
		t.Fatalf("PostReg did not see both unknown handlers: pull %v, push %v", unknownPull, unknownPush)
	}
	tests := []struct {
		name                string
		h                   *Handler
		wantName            string // "" when unspecified
		argElem, reply      reflect.Type
		checkArg            bool
		pull, push, unknown bool
	}{
		{name: "pull", h: rec.get("/home/test_add"), wantName: "/home/test_add",
			argElem: reflect.TypeOf([2]int{}), reply: reflect.TypeOf(0), checkArg: true, pull: true},
		{name: "pull with interface reply", h: rec.get("/home/fail"), wantName: "/home/fail",
			argElem: reflect.TypeOf(int32(0)), reply: reflect.TypeOf((*interface{})(nil)).Elem(), checkArg: true, pull: true},
		{name: "pull with pointer reply", h: rec.get("/home/nothing"), wantName: "/home/nothing",
			argElem: reflect.TypeOf(struct{}{}), reply: reflect.TypeOf(&struct{}{}), checkArg: true, pull: true},
		{name: "push", h: rec.get("/note/say"), wantName: "/note/say",
			argElem: reflect.TypeOf(""), reply: nil, checkArg: true, push: true},
		{name: "unknown pull", h: unknownPull, reply: reflect.TypeOf((*interface{})(nil)).Elem(), pull: true, unknown: true},
		{name: "unknown push", h: unknownPush, reply: nil, push: true, unknown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			if h == nil {
				t.Fatalf("not registered; PostReg saw %q", rec.names())
			}
			if tt.wantName != "" && h.Name() != tt.wantName {
				t.Errorf("Name() = %q; want %q", h.Name(), tt.wantName)
			}
			if tt.checkArg && h.ArgElemType() != tt.argElem {
				t.Errorf("ArgElemType() = %v; want %v", h.ArgElemType(), tt.argElem)
			}
			if h.ReplyType() != tt.reply {
				t.Errorf("ReplyType() = %v; want %v", h.ReplyType(), tt.reply)
			}
			if h.IsPull() != tt.pull || h.IsPush() != tt.push || h.IsUnknown() != tt.unknown {
				t.Errorf("IsPull, IsPush, IsUnknown = %v, %v, %v; want %v, %v, %v",
					h.IsPull(), h.IsPush(), h.IsUnknown(), tt.pull, tt.push, tt.unknown)
			}
		})
	}
}

// orderLog records the plugins that ran, in order.
type orderLog struct {
	// mu guards names.
	mu    sync.Mutex
	names []string
}

func (o *orderLog) add(name string) {
	o.mu.Lock()
	o.names = append(o.names, name)
	o.mu.Unlock()
}

// take returns the names logged and empties the log.
func (o *orderLog) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := o.names
	o.names = nil
	return names
}

// hookCounter counts its PostReadPullHeader calls and logs them.
type hookCounter struct {
	name string
	n    atomic.Int64
	log  *orderLog
}

func (c *hookCounter) Name() string { return c.name }

func (c *hookCounter) PostReadPullHeader(ReadCtx) *Rerror {
	c.n.Add(1)
	c.log.add(c.name)
	return nil
}

// bodyGate refuses every pull once its body is read.
type bodyGate struct{}

func (bodyGate) Name() string { return "body-gate" }

func (bodyGate) PostReadPullBody(ctx ReadCtx) *Rerror {
	return NewRerror(403, "Forbidden", "gate closed for "+ctx.Path())
}

// Plugins given to Group and Reg run only for their routes, after the
// peer's, group before route.
func TestRoutePluginsScope(t *testing.T) {
	log := new(orderLog)
	peerHook := &hookCounter{name: "peer", log: log}
	groupHook := &hookCounter{name: "group", log: log}
	routeHook := &hookCounter{name: "route", log: log}
	routeRec := new(regRecorder)
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		if err := srv.PluginContainer().Add(peerHook); err != nil {
			t.Fatal(err)
		}
		g := srv.PullRouter.Group("g", groupHook)
		g.Reg(new(Home), routeHook, routeRec)
		g.Reg(new(Other))
		srv.PullRouter.Reg(new(Home))
		srv.PullRouter.Group("gated").Reg(new(Home), bodyGate{})
	})
	if got := routeRec.names(); len(got) == 0 || !allHavePrefix(got, "/g/home/") {
		t.Errorf("a Reg plugin's PostReg saw %q; want only /g/home/ routes", got)
	}

	tests := []struct {
		uri                string
		peer, group, route int64 // counts after the pull
		order              []string
	}{
		{uri: "/home/test_add", peer: 1, group: 0, route: 0, order: []string{"peer"}},
		{uri: "/g/other/ping", peer: 2, group: 1, route: 0, order: []string{"peer", "group"}},
		{uri: "/g/home/test_add?q=1", peer: 3, group: 2, route: 1, order: []string{"peer", "group", "route"}},
		{uri: "/nowhere", peer: 4, group: 2, route: 1, order: []string{"peer"}},
		{uri: "/gated/home/test_add", peer: 5, group: 2, route: 1, order: []string{"peer"}},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			var reply interface{}
			p.cliSess.Pull(tt.uri, [2]int{1, 2}, &reply)
			if got := [3]int64{peerHook.n.Load(), groupHook.n.Load(), routeHook.n.Load()}; got != [3]int64{tt.peer, tt.group, tt.route} {
				t.Errorf("peer, group, route calls = %v; want %v", got, [3]int64{tt.peer, tt.group, tt.route})
			}
			if got := log.take(); !reflect.DeepEqual(got, tt.order) {
				t.Errorf("hooks ran %q; want %q", got, tt.order)
			}
		})
	}

	t.Run("route PostReadPullBody error answers the pull", func(t *testing.T) {
		var sum int
		rerr := p.cliSess.Pull("/gated/home/test_add", [2]int{1, 2}, &sum).Rerror()
		if rerr == nil || rerr.Code != 403 || rerr.Message != "Forbidden" || rerr.Detail != "gate closed for /gated/home/test_add" {
			t.Fatalf("gated pull = %d, %v; want code 403 from the plugin", sum, rerr)
		}
		if sum != 0 {
			t.Fatalf("gated pull decoded a reply %d", sum)
		}
		if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
			t.Fatalf("ungated pull = %d, %v", sum, rerr)
		}
		log.take()
	})
}

func allHavePrefix(names []string, prefix string) bool {
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			return false
		}
	}
	return true
}

// A controller's own fields start at zero on every call: pooled
// controllers are cleared before reuse.
func TestCtrlStateDoesNotLeak(t *testing.T) {
	p := newPair(t, nil, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Stateful)) })
	for i := 1; i <= 50; i++ {
		var prev int
		if rerr := p.cliSess.Pull("/stateful/remember", i, &prev).Rerror(); rerr != nil {
			t.Fatal(rerr)
		}
		if prev != 0 {
			t.Fatalf("call %d saw %d left by an earlier call", i, prev)
		}
	}
	// Concurrent calls, which the pool serves with several controllers.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 1; i <= 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev int
			if rerr := p.cliSess.Pull("/stateful/remember", i, &prev).Rerror(); rerr != nil || prev != 0 {
				errs <- fmt.Sprintf("call %d: %d, %v", i, prev, rerr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
