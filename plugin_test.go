package tp

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/teleport-go/teleport/internal/israce"
)

// hookTally implements every hook, counts the calls, and can fail one.
type hookTally struct {
	name string
	mu   sync.Mutex
	n    map[string]int
	fail map[string]*Rerror
}

func newHookTally(name string) *hookTally {
	return &hookTally{name: name, n: map[string]int{}, fail: map[string]*Rerror{}}
}

func (h *hookTally) hit(hook string) *Rerror {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[hook]++
	return h.fail[hook]
}

func (h *hookTally) count(hook string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[hook]
}

func (h *hookTally) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := make(map[string]int, len(h.n))
	for k, v := range h.n {
		c[k] = v
	}
	return c
}

func (h *hookTally) failOn(hook string, rerr *Rerror) *hookTally {
	h.fail[hook] = rerr
	return h
}

func (h *hookTally) Name() string                        { return h.name }
func (h *hookTally) PostReg(*Handler) *Rerror            { return h.hit("PostReg") }
func (h *hookTally) PostDial(PreSession) *Rerror         { return h.hit("PostDial") }
func (h *hookTally) PostAccept(PreSession) *Rerror       { return h.hit("PostAccept") }
func (h *hookTally) PreWritePull(WriteCtx) *Rerror       { return h.hit("PreWritePull") }
func (h *hookTally) PostWritePull(WriteCtx) *Rerror      { return h.hit("PostWritePull") }
func (h *hookTally) PreWriteReply(WriteCtx) *Rerror      { return h.hit("PreWriteReply") }
func (h *hookTally) PostWriteReply(WriteCtx) *Rerror     { return h.hit("PostWriteReply") }
func (h *hookTally) PreWritePush(WriteCtx) *Rerror       { return h.hit("PreWritePush") }
func (h *hookTally) PostWritePush(WriteCtx) *Rerror      { return h.hit("PostWritePush") }
func (h *hookTally) PreReadHeader(BackgroundCtx) *Rerror { return h.hit("PreReadHeader") }
func (h *hookTally) PostReadPullHeader(ReadCtx) *Rerror  { return h.hit("PostReadPullHeader") }
func (h *hookTally) PreReadPullBody(ReadCtx) *Rerror     { return h.hit("PreReadPullBody") }
func (h *hookTally) PostReadPullBody(ReadCtx) *Rerror    { return h.hit("PostReadPullBody") }
func (h *hookTally) PostReadPushHeader(ReadCtx) *Rerror  { return h.hit("PostReadPushHeader") }
func (h *hookTally) PreReadPushBody(ReadCtx) *Rerror     { return h.hit("PreReadPushBody") }
func (h *hookTally) PostReadPushBody(ReadCtx) *Rerror    { return h.hit("PostReadPushBody") }
func (h *hookTally) PostReadReplyHeader(ReadCtx) *Rerror { return h.hit("PostReadReplyHeader") }
func (h *hookTally) PreReadReplyBody(ReadCtx) *Rerror    { return h.hit("PreReadReplyBody") }
func (h *hookTally) PostReadReplyBody(ReadCtx) *Rerror   { return h.hit("PostReadReplyBody") }
func (h *hookTally) PostDisconnect(PostSession) *Rerror  { return h.hit("PostDisconnect") }

// A fixed exchange (dial, 3 pulls, 2 pushes, close) calls every hook the
// expected number of times on both peers.
func TestHookCallCounts(t *testing.T) {
	srvHooks, cliHooks := newHookTally("count"), newHookTally("count")
	var handlers int
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		srv.PluginContainer().Add(srvHooks)
		cli.PluginContainer().Add(cliHooks)
		srv.PullRouter.Reg(new(Home))
		srv.PushRouter.Reg(new(Note))
		handlers = len(*srv.PullRouter.table.handlers.Load()) + len(*srv.PushRouter.table.handlers.Load())
	})
	for i := range 3 {
		var sum int
		if rerr := p.cliSess.Pull("/home/test_add", [2]int{i, i}, &sum).Rerror(); rerr != nil {
			t.Fatal(rerr)
		}
	}
	for range 2 {
		if rerr := p.cliSess.Push("/note/say", "x"); rerr != nil {
			t.Fatal(rerr)
		}
		<-notes
	}
	waitFor(t, "the pushes' hooks", func() bool { return srvHooks.count("PostReadPushBody") == 2 })
	p.cliSess.Close()
	waitFor(t, "both sides to disconnect", func() bool {
		return srvHooks.count("PostDisconnect") == 1 && cliHooks.count("PostDisconnect") == 1
	})
	p.cli.Close()
	p.srv.Close()

	want := map[*hookTally]map[string]int{
		cliHooks: {
			"PostDial": 1, "PreWritePull": 3, "PostWritePull": 3, "PreWritePush": 2, "PostWritePush": 2,
			// 3 replies and the caps notice answering the first pull
			"PreReadHeader": 4, "PostReadReplyHeader": 3, "PreReadReplyBody": 3, "PostReadReplyBody": 3,
			"PostDisconnect": 1,
		},
		srvHooks: {
			"PostReg": handlers, "PostAccept": 1, "PreReadHeader": 5,
			"PostReadPullHeader": 3, "PreReadPullBody": 3, "PostReadPullBody": 3, "PreWriteReply": 3, "PostWriteReply": 3,
			"PostReadPushHeader": 2, "PreReadPushBody": 2, "PostReadPushBody": 2,
			"PostDisconnect": 1,
		},
	}
	for h, wantCounts := range want {
		side := "server"
		if h == cliHooks {
			side = "client"
		}
		got := h.counts()
		for hook, n := range wantCounts {
			if got[hook] != n {
				t.Errorf("%s %s: %d calls, want %d", side, hook, got[hook], n)
			}
		}
		for hook, n := range got {
			if _, ok := wantCounts[hook]; !ok {
				t.Errorf("%s %s: %d unexpected calls", side, hook, n)
			}
		}
	}
}

// An error from each kind of hook stops its stage as SPEC 4.7 says.
func TestHookErrors(t *testing.T) {
	refused := NewRerror(499, "refused by plugin", "on purpose")
	tests := []struct {
		name       string
		srvHook    string // hook failing on the server
		cliHook    string // hook failing on the client
		check      func(t *testing.T, p *pair, dialErr *Rerror)
		dialFailed bool
	}{
		{name: "PostDial refuses the dial", cliHook: "PostDial", dialFailed: true,
			check: func(t *testing.T, p *pair, dialErr *Rerror) {
				if dialErr.Code != 499 {
					t.Fatalf("Dial error = %v", dialErr)
				}
				if p.cli.CountSession() != 0 {
					t.Fatal("the refused session is in the table")
				}
			}},
		{name: "PostAccept refuses the connection", srvHook: "PostAccept",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
					t.Fatalf("pull on a refused connection: %v", rerr)
				}
				if p.srv.CountSession() != 0 {
					t.Fatal("the server kept the refused session")
				}
			}},
		{name: "PreWritePull stops the pull", cliHook: "PreWritePull",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != 499 {
					t.Fatalf("Pull = %v, want the plugin's error", rerr)
				}
			}},
		{name: "PreWritePush stops the push", cliHook: "PreWritePush",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Push("/note/say", "x"); rerr == nil || rerr.Code != 499 {
					t.Fatalf("Push = %v, want the plugin's error", rerr)
				}
			}},
		{name: "PreWriteReply replaces the reply", srvHook: "PreWriteReply",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				var sum int
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr == nil || rerr.Code != 499 || sum != 0 {
					t.Fatalf("Pull = %v, %d; want the plugin's error", rerr, sum)
				}
			}},
		{name: "PostReadPullHeader answers the pull", srvHook: "PostReadPullHeader",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != 499 {
					t.Fatalf("Pull = %v", rerr)
				}
			}},
		{name: "PreReadPullBody answers the pull", srvHook: "PreReadPullBody",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != 499 {
					t.Fatalf("Pull = %v", rerr)
				}
			}},
		{name: "PostReadPullBody answers the pull", srvHook: "PostReadPullBody",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != 499 {
					t.Fatalf("Pull = %v", rerr)
				}
			}},
		{name: "PostReadReplyBody ends the pull with its error", cliHook: "PostReadReplyBody",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != 499 {
					t.Fatalf("Pull = %v", rerr)
				}
			}},
		{name: "read push hooks drop the push", srvHook: "PostReadPushHeader",
			check: func(t *testing.T, p *pair, _ *Rerror) {
				before := counting.Load()
				p.cliSess.Push("/note/count", 1)
				// A pull after the push is handled after it was read.
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr != nil {
					t.Fatal(rerr)
				}
				waitFor(t, "handlers to finish", func() bool { return p.srv.handling.Load() == 0 })
				if counting.Load() != before {
					t.Fatal("the push reached its handler")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srvHooks, cliHooks := newHookTally("fail"), newHookTally("fail")
			if tt.srvHook != "" {
				srvHooks.failOn(tt.srvHook, refused)
			}
			if tt.cliHook != "" {
				cliHooks.failOn(tt.cliHook, refused)
			}
			if tt.dialFailed {
				srv, cli := NewPeer(nil), NewPeer(nil, cliHooks)
				defer srv.Close()
				defer cli.Close()
				lis := listenLoopback(t)
				go srv.Serve(lis)
				_, rerr := cli.Dial(lis.Addr().String())
				if rerr == nil {
					t.Fatal("Dial succeeded")
				}
				tt.check(t, &pair{srv: srv, cli: cli}, rerr)
				return
			}
			p := newPair(t, nil, nil, func(srv, cli *Peer) {
				regHome(srv, cli)
				srv.PluginContainer().Add(srvHooks)
				cli.PluginContainer().Add(cliHooks)
			})
			tt.check(t, p, nil)
		})
	}
}

// PostDisconnect runs once per session, whoever closes it.
func TestPostDisconnectOnce(t *testing.T) {
	for _, closer := range []string{"client", "server", "both", "peer close"} {
		t.Run(closer, func(t *testing.T) {
			srvHooks, cliHooks := newHookTally("dc"), newHookTally("dc")
			p := newPair(t, nil, nil, func(srv, cli *Peer) {
				srv.PluginContainer().Add(srvHooks)
				cli.PluginContainer().Add(cliHooks)
			})
			switch closer {
			case "client":
				p.cliSess.Close()
			case "server":
				p.srvSess.Close()
			case "both":
				go p.cliSess.Close()
				p.srvSess.Close()
				p.cliSess.Close()
			case "peer close":
				p.srv.Close()
			}
			waitFor(t, "both sides to disconnect", func() bool {
				return srvHooks.count("PostDisconnect") >= 1 && cliHooks.count("PostDisconnect") >= 1
			})
			p.cli.Close()
			p.srv.Close()
			if s, c := srvHooks.count("PostDisconnect"), cliHooks.count("PostDisconnect"); s != 1 || c != 1 {
				t.Fatalf("PostDisconnect ran %d times on the server, %d on the client", s, c)
			}
		})
	}
}

func TestPluginContainer(t *testing.T) {
	c, err := newPluginContainer()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newHookTally("a"), newHookTally("b")
	if err := c.Add(a, b); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		plugin Plugin
		want   string
	}{
		{"duplicate name", newHookTally("a"), `"a"`},
		{"nil plugin", nil, "nil plugin"},
		{"no hook", namedOnly("lazy"), "implements no hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Add(tt.plugin); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Add = %v, want an error saying %s", err, tt.want)
			}
		})
	}
	if got := c.GetAll(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("GetAll = %v", got)
	}
	if c.GetByName("b") != b || c.GetByName("zz") != nil {
		t.Fatal("GetByName")
	}
	if err := c.Remove("a"); err != nil || len(c.get().postDial) != 1 {
		t.Fatalf("Remove: %v, %d PostDial hooks left", err, len(c.get().postDial))
	}
	if err := c.Remove("a"); err == nil {
		t.Fatal("removing an absent plugin succeeded")
	}
	if _, err := c.cloneAdd(newHookTally("b")); err == nil {
		t.Fatal("cloneAdd accepted a duplicate")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "implements no hook") {
			t.Fatalf("NewPeer with a hookless plugin: %v", r)
		}
	}()
	NewPeer(nil, namedOnly("lazy"))
}

type namedOnly string

func (n namedOnly) Name() string { return string(n) }

// Plugins add no allocation to a pull: the hooks receive the message's
// own context objects.
func TestPluginsAddNoAllocations(t *testing.T) {
	if israce.Enabled {
		t.Skip("under the race detector sync.Pool drops items at random, each drop an allocation; CI runs this test without it")
	}
	atDefaultLogLevel(t)
	measure := func(plugins ...Plugin) float64 {
		p := newPair(t, nil, nil, func(srv, cli *Peer) {
			regHome(srv, cli)
			srv.PluginContainer().Add(plugins...)
			cli.PluginContainer().Add(plugins...)
		})
		var reply []byte
		pull := func() {
			if rerr := p.cliSess.Pull("/home/bytes", payload581, &reply).Rerror(); rerr != nil {
				t.Fatal(rerr)
			}
			waitFor(t, "the handler to finish", func() bool { return p.srv.handling.Load() == 0 })
		}
		for range 50 {
			pull()
		}
		return testing.AllocsPerRun(500, pull)
	}
	var five []Plugin
	for i := range 5 {
		five = append(five, &silentPlugin{name: fmt.Sprint("noop", i)})
	}
	without, with := measure(), measure(five...)
	t.Logf("allocations per pull: %.2f without plugins, %.2f with 5 no-op plugins", without, with)
	if with > without+0.05 {
		t.Fatalf("5 no-op plugins add %.2f allocations per pull", with-without)
	}
}

// silentPlugin implements every hook, returning nil, without counting.
type silentPlugin struct{ name string }

func (s *silentPlugin) Name() string                        { return s.name }
func (s *silentPlugin) PostDial(PreSession) *Rerror         { return nil }
func (s *silentPlugin) PostAccept(PreSession) *Rerror       { return nil }
func (s *silentPlugin) PreWritePull(WriteCtx) *Rerror       { return nil }
func (s *silentPlugin) PostWritePull(WriteCtx) *Rerror      { return nil }
func (s *silentPlugin) PreWriteReply(WriteCtx) *Rerror      { return nil }
func (s *silentPlugin) PostWriteReply(WriteCtx) *Rerror     { return nil }
func (s *silentPlugin) PreWritePush(WriteCtx) *Rerror       { return nil }
func (s *silentPlugin) PostWritePush(WriteCtx) *Rerror      { return nil }
func (s *silentPlugin) PreReadHeader(BackgroundCtx) *Rerror { return nil }
func (s *silentPlugin) PostReadPullHeader(ReadCtx) *Rerror  { return nil }
func (s *silentPlugin) PreReadPullBody(ReadCtx) *Rerror     { return nil }
func (s *silentPlugin) PostReadPullBody(ReadCtx) *Rerror    { return nil }
func (s *silentPlugin) PostReadPushHeader(ReadCtx) *Rerror  { return nil }
func (s *silentPlugin) PreReadPushBody(ReadCtx) *Rerror     { return nil }
func (s *silentPlugin) PostReadPushBody(ReadCtx) *Rerror    { return nil }
func (s *silentPlugin) PostReadReplyHeader(ReadCtx) *Rerror { return nil }
func (s *silentPlugin) PreReadReplyBody(ReadCtx) *Rerror    { return nil }
func (s *silentPlugin) PostReadReplyBody(ReadCtx) *Rerror   { return nil }
func (s *silentPlugin) PostDisconnect(PostSession) *Rerror  { return nil }

// BenchmarkPullPlugins compares a pull round trip with no plugins and with
// five no-op plugins on both peers.
func BenchmarkPullPlugins(b *testing.B) {
	for _, n := range []int{0, 5} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			atDefaultLogLevel(b)
			var plugins []Plugin
			for i := range n {
				plugins = append(plugins, &silentPlugin{name: fmt.Sprint("noop", i)})
			}
			p := newPair(b, nil, nil, func(srv, cli *Peer) {
				regHome(srv, cli)
				srv.PluginContainer().Add(plugins...)
				cli.PluginContainer().Add(plugins...)
			})
			var reply []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if rerr := p.cliSess.Pull("/home/bytes", payload581, &reply).Rerror(); rerr != nil {
					b.Fatal(rerr)
				}
			}
		})
	}
}

// A plugin whose hooks never run for a route is refused by Group and Reg.
func TestRoutePluginsMustHaveRouteHooks(t *testing.T) {
	peer := NewPeer(nil)
	defer peer.Close()
	dialOnly := &dialCounter{n: make(chan struct{}, 1)}
	for name, reg := range map[string]func(){
		"Group":      func() { peer.PullRouter.Group("g", dialOnly) },
		"Reg":        func() { peer.PullRouter.Reg(new(Home), dialOnly) },
		"SetUnknown": func() { peer.PushRouter.SetUnknown(func(UnknownPushCtx) {}, dialOnly) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), `"dial-counter"`) || !strings.Contains(fmt.Sprint(r), "no hook that runs for a group or route") {
					t.Fatalf("panic = %v", r)
				}
			}()
			reg()
		})
	}
	peer.PullRouter.Group("ok", newHookTally("route-level")) // has route hooks: accepted
}

// panicky panics in the hooks it is asked to.
type panicky struct{ in string }

func (p panicky) Name() string { return "panicky" }
func (p panicky) PostReadPullHeader(ReadCtx) *Rerror {
	if p.in == "PostReadPullHeader" {
		panic("hook boom")
	}
	return nil
}
func (p panicky) PreWritePull(WriteCtx) *Rerror {
	if p.in == "PreWritePull" {
		panic("hook boom")
	}
	return nil
}

// A panicking hook fails its stage with CodeInternalServerError; the
// process and the session go on.
func TestHookPanicIsRecovered(t *testing.T) {
	for _, tc := range []struct{ hook, side string }{{"PostReadPullHeader", "server"}, {"PreWritePull", "client"}} {
		t.Run(tc.hook, func(t *testing.T) {
			p := newPair(t, nil, nil, func(srv, cli *Peer) {
				regHome(srv, cli)
				if tc.side == "server" {
					srv.PluginContainer().Add(panicky{tc.hook})
				} else {
					cli.PluginContainer().Add(panicky{tc.hook})
				}
			})
			rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror()
			if rerr == nil || rerr.Code != CodeInternalServerError || !strings.Contains(rerr.Detail, "hook boom") {
				t.Fatalf("Pull = %v, want CodeInternalServerError naming the panic", rerr)
			}
			if !p.cliSess.IsOk() || !p.srvSess.IsOk() {
				t.Fatal("a hook panic closed the session")
			}
		})
	}
}
