package websocket

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/auth"
	"github.com/teleport-go/teleport/socket"
)

// Math is the server's pull controller.
type Math struct{ tp.PullCtx }

// Add adds, and echoes the "echo" metadata into the reply's.
func (m *Math) Add(a *[2]int) (int, *tp.Rerror) {
	if v := m.GetMeta("echo"); v != nil {
		m.SetMeta("echo", string(v))
	}
	return a[0] + a[1], nil
}

// Fail answers with a handler's own error.
func (m *Math) Fail(*int) (int, *tp.Rerror) {
	return 0, tp.NewRerror(499, "Refused", "odd input")
}

// Whoami is the client's pull controller, pulled by the server.
type Whoami struct{ tp.PullCtx }

// Name answers the server's pull with the client's name.
func (w *Whoami) Name(greeting *string) (string, *tp.Rerror) {
	return *greeting + ", I am the client", nil
}

// hookCount counts hook calls on the server.
type hookCount struct {
	pullHeaders atomic.Int32
	disconnects chan struct{}
}

func (h *hookCount) Name() string { return "hook-count" }
func (h *hookCount) PostReadPullHeader(tp.ReadCtx) *tp.Rerror {
	h.pullHeaders.Add(1)
	return nil
}
func (h *hookCount) PostDisconnect(tp.PostSession) *tp.Rerror {
	h.disconnects <- struct{}{}
	return nil
}

// env is a server peer and a client peer connected by one session over a
// transport.
type env struct {
	srv, cli         *tp.Peer
	cliSess, srvSess tp.Session
	addr             string
	watch            *acceptWatch
	hooks            *hookCount
	srvPushes        chan string   // pushes the server received
	cliPushes        chan string   // pushes the client received
	slowStarted      chan struct{} // the server's /slow handler began
	slowRelease      chan struct{} // closed to let /slow finish
}

func newEnv(t *testing.T, tr transport, srvCfg, cliCfg *tp.PeerConfig, srvPlugins, cliPlugins []tp.Plugin) *env {
	t.Helper()
	e := &env{
		watch:       newAcceptWatch(),
		hooks:       &hookCount{disconnects: make(chan struct{}, 16)},
		srvPushes:   make(chan string, 16),
		cliPushes:   make(chan string, 16),
		slowStarted: make(chan struct{}, 16),
		slowRelease: make(chan struct{}),
	}
	e.srv = tp.NewPeer(srvCfg, append(srvPlugins, e.watch, e.hooks)...)
	e.srv.PullRouter.Reg(new(Math))
	e.srv.PullRouter.SetUnknown(func(ctx tp.UnknownPullCtx) (interface{}, *tp.Rerror) {
		if ctx.Path() != "/slow" {
			return nil, tp.NewRerror(tp.CodeNotFound, "Not Found", ctx.Path())
		}
		e.slowStarted <- struct{}{}
		<-e.slowRelease // closed by the test, or when it ends
		return "slow done", nil
	})
	e.srv.PushRouter.SetUnknown(func(ctx tp.UnknownPushCtx) {
		var s string
		if _, err := ctx.Bind(&s); err == nil {
			e.srvPushes <- ctx.Path() + " " + s
		}
	})
	e.cli = tp.NewPeer(cliCfg, cliPlugins...)
	e.cli.PullRouter.Reg(new(Whoami))
	e.cli.PushRouter.SetUnknown(func(ctx tp.UnknownPushCtx) {
		var s string
		if _, err := ctx.Bind(&s); err == nil {
			e.cliPushes <- ctx.Path() + " " + s
		}
	})
	e.addr = tr.serve(t, e.srv)
	t.Cleanup(func() {
		closeOnce(e.slowRelease)
		e.cli.Close()
	})
	var rerr *tp.Rerror
	if e.cliSess, rerr = e.cli.Dial(e.addr); rerr != nil {
		t.Fatalf("Dial %s: %v", e.addr, rerr)
	}
	e.srvSess = e.watch.next(t)
	return e
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// receive returns the next string on ch, failing the test after 5 s.
func receive(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		return ""
	}
}

// TestBehaviours runs the same pull, push, plugin, timeout and close
// behaviours over TCP and WebSocket.
func TestBehaviours(t *testing.T) {
	tests := []struct {
		name       string
		srvCfg     *tp.PeerConfig
		cliCfg     *tp.PeerConfig
		srvPlugins []tp.Plugin
		cliPlugins []tp.Plugin
		run        func(t *testing.T, e *env)
	}{
		{name: "pull with metadata", run: func(t *testing.T, e *env) {
			var sum int
			cmd := e.cliSess.Pull("/math/add?x=1", &[2]int{20, 22}, &sum, socket.WithSetMeta("echo", "a b&c"))
			if rerr := cmd.Rerror(); rerr != nil || sum != 42 {
				t.Fatalf("got %d, %v; want 42", sum, rerr)
			}
			if got := string(cmd.InputMeta().Peek("echo")); got != "a b&c" {
				t.Errorf("reply metadata echo = %q", got)
			}
		}},
		{name: "pull through gzip", run: func(t *testing.T, e *env) {
			var sum int
			rerr := e.cliSess.Pull("/math/add", &[2]int{1, 2}, &sum, socket.WithXferPipe('g')).Rerror()
			if rerr != nil || sum != 3 {
				t.Fatalf("got %d, %v", sum, rerr)
			}
		}},
		{name: "handler error and not found", run: func(t *testing.T, e *env) {
			rerr := e.cliSess.Pull("/math/fail", 1, new(int)).Rerror()
			if rerr == nil || rerr.Code != 499 || rerr.Message != "Refused" || rerr.Detail != "odd input" {
				t.Errorf("fail: got %v", rerr)
			}
			rerr = e.cliSess.Pull("/no/such", 1, new(int)).Rerror()
			if rerr == nil || rerr.Code != tp.CodeNotFound {
				t.Errorf("unknown route: got %v", rerr)
			}
		}},
		{name: "push", run: func(t *testing.T, e *env) {
			if rerr := e.cliSess.Push("/note/say", "hi"); rerr != nil {
				t.Fatal(rerr)
			}
			if got := receive(t, e.srvPushes); got != "/note/say hi" {
				t.Errorf("server got %q", got)
			}
		}},
		{name: "server pulls and pushes the client", run: func(t *testing.T, e *env) {
			var name string
			if rerr := e.srvSess.Pull("/whoami/name", "hello", &name).Rerror(); rerr != nil {
				t.Fatal(rerr)
			}
			if name != "hello, I am the client" {
				t.Errorf("client answered %q", name)
			}
			if rerr := e.srvSess.Push("/news/flash", "extra"); rerr != nil {
				t.Fatal(rerr)
			}
			if got := receive(t, e.cliPushes); got != "/news/flash extra" {
				t.Errorf("client got %q", got)
			}
		}},
		{name: "plugin hooks", run: func(t *testing.T, e *env) {
			before := e.hooks.pullHeaders.Load()
			if rerr := e.cliSess.Pull("/math/add", &[2]int{1, 1}, new(int)).Rerror(); rerr != nil {
				t.Fatal(rerr)
			}
			if got := e.hooks.pullHeaders.Load() - before; got != 1 {
				t.Errorf("PostReadPullHeader ran %d times, want 1", got)
			}
			e.cliSess.Close()
			select {
			case <-e.hooks.disconnects:
			case <-time.After(5 * time.Second):
				t.Fatal("PostDisconnect did not run on the server")
			}
		}},
		{
			name: "auth handshake in PostDial and PostAccept",
			srvPlugins: []tp.Plugin{auth.NewServer(func(token string, sess tp.PreSession) *tp.Rerror {
				if token != "s3cret" {
					return auth.Unauthorized("unknown token")
				}
				sess.SetId("alice")
				return nil
			}, nil)},
			cliPlugins: []tp.Plugin{auth.NewClient("s3cret", nil)},
			run: func(t *testing.T, e *env) {
				if id := e.srvSess.Id(); id != "alice" {
					t.Errorf("server session id %q, want alice", id)
				}
				refused := tp.NewPeer(nil, auth.NewClient("wrong", nil))
				defer refused.Close()
				if _, rerr := refused.Dial(e.addr); rerr == nil || rerr.Code != auth.CodeUnauthorized {
					t.Errorf("a wrong token: %v, want CodeUnauthorized", rerr)
				}
			},
		},
		{name: "pull timeout", run: func(t *testing.T, e *env) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			rerr := e.cliSess.Pull("/slow", 1, new(string), socket.WithContext(ctx)).Rerror()
			if rerr == nil || rerr.Code != tp.CodeHandleTimeout {
				t.Fatalf("got %v, want CodeHandleTimeout", rerr)
			}
			closeOnce(e.slowRelease)
			var sum int // the session goes on
			if rerr := e.cliSess.Pull("/math/add", &[2]int{2, 2}, &sum).Rerror(); rerr != nil || sum != 4 {
				t.Fatalf("after the timeout: %d, %v", sum, rerr)
			}
		}},
		{name: "read timeout closes an idle session", srvCfg: &tp.PeerConfig{DefaultReadTimeout: 100 * time.Millisecond}, run: func(t *testing.T, e *env) {
			waitFor(t, "the server to close the idle session", func() bool { return !e.cliSess.IsOk() })
		}},
		{name: "graceful close finishes the pull in flight", run: func(t *testing.T, e *env) {
			done := make(chan *tp.PullCmd, 1)
			var reply string
			e.cliSess.AsyncPull("/slow", 1, &reply, done)
			<-e.slowStarted
			closed := make(chan struct{})
			go func() {
				e.srv.Close()
				close(closed)
			}()
			time.AfterFunc(20*time.Millisecond, func() { closeOnce(e.slowRelease) })
			cmd := <-done
			if rerr := cmd.Rerror(); rerr != nil || reply != "slow done" {
				t.Fatalf("pull in flight: %q, %v", reply, rerr)
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("server Close did not return")
			}
			waitFor(t, "the client session to end", func() bool { return !e.cliSess.IsOk() })
		}},
		{name: "redial after the server drops the connection", cliCfg: &tp.PeerConfig{RedialTimes: 5}, run: func(t *testing.T, e *env) {
			e.srvSess.Close()
			e.watch.next(t) // the redialed connection
			var sum int
			waitFor(t, "a pull on the redialed session", func() bool {
				return e.cliSess.Pull("/math/add", &[2]int{3, 4}, &sum).Rerror() == nil
			})
			if sum != 7 {
				t.Errorf("sum = %d", sum)
			}
		}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				tt.run(t, newEnv(t, tr, tt.srvCfg, tt.cliCfg, tt.srvPlugins, tt.cliPlugins))
			})
		}
	}
}

// TestDialErrors covers URLs that do not lead to a WebSocket endpoint.
func TestDialErrors(t *testing.T) {
	srv := tp.NewPeer(nil)
	url := serveWS(t, srv)
	cli := tp.NewPeer(&tp.PeerConfig{DefaultDialTimeout: 5 * time.Second})
	defer cli.Close()
	for _, tt := range []struct{ name, url, want string }{
		{"no such path", url + "/nope", "404"},
		{"plain http route", url[:len(url)-len("/tp")] + "/hello", "200"},
		{"nothing listening", "ws://127.0.0.1:1/tp", "refused"},
		{"bad url", "ws://[::1/tp", "websocket: dial"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, rerr := Dial(cli, tt.url)
			if rerr == nil || rerr.Code != tp.CodeDialFailed {
				t.Fatalf("got %v, want CodeDialFailed", rerr)
			}
			if !errors.Is(rerr, tp.NewRerror(tp.CodeDialFailed, "", "")) || !strings.Contains(rerr.Detail, tt.want) {
				t.Errorf("detail %q lacks %q", rerr.Detail, tt.want)
			}
		})
	}
}
