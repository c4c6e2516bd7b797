package metrics

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/tptest"
	"github.com/teleport-go/teleport/socket"
	"go.uber.org/goleak"
)

// TestMain formats every log line into a discarding handler, so that the
// logging paths run under -race without noise, and checks for leaks.
func TestMain(m *testing.M) {
	tptest.DiscardLogs()
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// Calc is the server's pull controller.
type Calc struct{ tp.PullCtx }

// Echo answers its argument.
func (c *Calc) Echo(s *string) (string, *tp.Rerror) { return *s, nil }

// Fail answers a handler's own error code.
func (c *Calc) Fail(*string) (string, *tp.Rerror) {
	return "", tp.NewRerror(418, "Teapot", "always fails")
}

// gate holds Calc.Block until closed; each test sets its own.
var gate chan struct{}

// Block answers once gate is closed.
func (c *Calc) Block(*string) (string, *tp.Rerror) {
	<-gate
	return "late", nil
}

// Note is the server's push controller.
type Note struct{ tp.PushCtx }

// noted receives what Note.Add got.
var noted = make(chan string, 16)

// Add hands its argument to the test.
func (n *Note) Add(s *string) { noted <- *s }

// pair is a server and a client peer with a session between them.
type pair struct {
	srv, cli *tp.Peer
	sess     tp.Session
	served   chan error
}

// newPair serves srv on a loopback port, with Calc and Note registered
// after its plugins were added, and dials it from cli.
func newPair(t *testing.T, srv, cli *tp.Peer) *pair {
	t.Helper()
	srv.PullRouter.Reg(new(Calc))
	srv.PushRouter.Reg(new(Note))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{srv: srv, cli: cli, served: make(chan error, 1)}
	go func() { p.served <- srv.Serve(lis) }()
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		srv.Close()
		<-p.served
		t.Fatal(rerr)
	}
	p.sess = sess
	return p
}

// close closes both peers; once it returns, every hook has run.
func (p *pair) close(t *testing.T) {
	t.Helper()
	p.cli.Close()
	p.srv.Close()
	if err := <-p.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// series finds the metric of family name with labels in reg.
func series(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

// count returns the value of a counter or gauge, or the sample count of a
// histogram; 0 when the series does not exist.
func count(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(t, reg, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s %v: unexpected metric type", name, labels)
	return 0
}

func newRegistered(t *testing.T, namespace string) (*Plugin, *prometheus.Registry) {
	t.Helper()
	m := New(namespace)
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func route(r string) map[string]string           { return map[string]string{"route": r} }
func routeCode(r, code string) map[string]string { return map[string]string{"route": r, "code": code} }

func TestPullsPushesAndSessions(t *testing.T) {
	sm, sreg := newRegistered(t, "srv")
	cm, creg := newRegistered(t, "cli")
	p := newPair(t, tp.NewPeer(nil, sm), tp.NewPeer(nil, cm))
	closed := false
	defer func() {
		if !closed {
			p.close(t)
		}
	}()

	pulls := []struct {
		uri      string
		n        int
		wantCode int32
	}{
		{"/calc/echo?x=1", 5, 0},
		{"/calc/fail", 3, 418},
		{"/calc/missing", 2, tp.CodeNotFound},
		{"/nowhere?y=2", 1, tp.CodeNotFound},
	}
	for _, pl := range pulls {
		for i := 0; i < pl.n; i++ {
			var reply string
			rerr := p.sess.Pull(pl.uri, "hi", &reply).Rerror()
			if got := codeOf(rerr); got != pl.wantCode {
				t.Fatalf("pull %s: code %d, want %d (%v)", pl.uri, got, pl.wantCode, rerr)
			}
		}
	}
	const pushes = 4
	for i := 0; i < pushes; i++ {
		if rerr := p.sess.Push("/note/add?z=3", "n"); rerr != nil {
			t.Fatal(rerr)
		}
	}
	for i := 0; i < pushes; i++ {
		<-noted // Note.Add runs after PostReadPushBody
	}

	// Sessions are counted before the first pull is read.
	for _, c := range []struct {
		reg    *prometheus.Registry
		prefix string
		side   string
	}{{sreg, "srv", "accept"}, {creg, "cli", "dial"}} {
		if got := count(t, c.reg, c.prefix+"_sessions_open", nil); got != 1 {
			t.Errorf("%s_sessions_open = %v, want 1", c.prefix, got)
		}
		if got := count(t, c.reg, c.prefix+"_sessions_opened_total", map[string]string{"side": c.side}); got != 1 {
			t.Errorf("%s_sessions_opened_total{side=%s} = %v, want 1", c.prefix, c.side, got)
		}
	}

	// Closing the peers waits for the server's replies to be written,
	// hence its PostWriteReply hooks.
	p.close(t)
	closed = true

	checks := []struct {
		reg    *prometheus.Registry
		name   string
		labels map[string]string
		want   float64
	}{
		{sreg, "srv_server_pulls_total", routeCode("/calc/echo", "0"), 5},
		{sreg, "srv_server_pull_duration_seconds", routeCode("/calc/echo", "0"), 5},
		{sreg, "srv_server_pulls_total", routeCode("/calc/fail", "418"), 3},
		{sreg, "srv_server_pull_duration_seconds", routeCode("/calc/fail", "418"), 3},
		{sreg, "srv_server_pulls_total", routeCode(Unmatched, "404"), 3},
		{sreg, "srv_server_pull_duration_seconds", routeCode(Unmatched, "404"), 3},
		{sreg, "srv_server_pulls_total", routeCode("/calc/missing", "404"), 0},
		{sreg, "srv_server_pushes_total", route("/note/add"), pushes},
		{sreg, "srv_server_push_duration_seconds", route("/note/add"), pushes},
		{sreg, "srv_client_pulls_total", routeCode("/calc/echo", "0"), 0},
		{sreg, "srv_sessions_open", nil, 0},
		{sreg, "srv_sessions_closed_total", nil, 1},

		{creg, "cli_client_pulls_total", routeCode("/calc/echo", "0"), 5},
		{creg, "cli_client_pull_duration_seconds", routeCode("/calc/echo", "0"), 5},
		{creg, "cli_client_pulls_total", routeCode("/calc/fail", "418"), 3},
		{creg, "cli_client_pulls_total", routeCode("/calc/missing", "404"), 2},
		{creg, "cli_client_pull_duration_seconds", routeCode("/calc/missing", "404"), 2},
		{creg, "cli_client_pulls_total", routeCode("/nowhere", "404"), 1},
		{creg, "cli_client_pushes_total", route("/note/add"), pushes},
		{creg, "cli_server_pulls_total", routeCode("/calc/echo", "0"), 0},
		{creg, "cli_sessions_open", nil, 0},
		{creg, "cli_sessions_closed_total", nil, 1},
	}
	for _, c := range checks {
		if got := count(t, c.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(cm.pendingKeys()); n != 0 {
		t.Errorf("%d client pulls left pending", n)
	}
}

// refuse is a plugin whose hooks fail, to stop the hooks after it.
type refuse struct{}

func (refuse) Name() string                             { return "refuse" }
func (refuse) PreWritePull(tp.WriteCtx) *tp.Rerror      { return tp.NewRerror(499, "Refused", "by test") }
func (refuse) PostAccept(tp.PreSession) *tp.Rerror      { return tp.NewRerror(499, "Refused", "by test") }
func (refuse) PostDisconnect(tp.PostSession) *tp.Rerror { return nil }

// disconnected signals each PostDisconnect, after the plugins before it.
type disconnected chan struct{}

func (disconnected) Name() string                               { return "disconnected" }
func (d disconnected) PostDisconnect(tp.PostSession) *tp.Rerror { d <- struct{}{}; return nil }

// TestClientPullEnds covers the pulls that end without a reply reaching
// PostReadReplyBody.
func TestClientPullEnds(t *testing.T) {
	tests := []struct {
		name string
		// pull sends one pull to /calc/block, which answers only
		// when the test ends, and returns once it ended.
		pull       func(t *testing.T, sess tp.Session, timedOut <-chan struct{})
		plugins    func(m *Plugin) []tp.Plugin
		wantCode   string // "" for none
		unanswered float64
	}{
		{
			name: "context timeout",
			pull: func(t *testing.T, sess tp.Session, timedOut <-chan struct{}) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				if rerr := sess.Pull("/calc/block", "x", nil, socket.WithContext(ctx)).Rerror(); codeOf(rerr) != tp.CodeHandleTimeout {
					t.Errorf("pull: %v, want code %d", rerr, tp.CodeHandleTimeout)
				}
				<-timedOut // the plugin watches the context on a goroutine of its own
			},
			wantCode: "408",
		},
		{
			name: "context already done",
			pull: func(t *testing.T, sess tp.Session, _ <-chan struct{}) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if rerr := sess.Pull("/calc/block", "x", nil, socket.WithContext(ctx)).Rerror(); codeOf(rerr) != tp.CodeHandleTimeout {
					t.Errorf("pull: %v, want code %d", rerr, tp.CodeHandleTimeout)
				}
			},
			wantCode: "408",
		},
		{
			name: "session closed",
			pull: func(t *testing.T, sess tp.Session, _ <-chan struct{}) {
				done := make(chan *tp.PullCmd, 1)
				sess.AsyncPull("/calc/block", "x", nil, done)
				sess.Close()
				if rerr := (<-done).Rerror(); codeOf(rerr) != tp.CodeConnClosed {
					t.Errorf("pull: %v, want code %d", rerr, tp.CodeConnClosed)
				}
			},
			unanswered: 1,
		},
		{
			name: "refused by a later hook",
			pull: func(t *testing.T, sess tp.Session, _ <-chan struct{}) {
				if rerr := sess.Pull("/calc/block", "x", nil).Rerror(); codeOf(rerr) != 499 {
					t.Errorf("pull: %v, want code 499", rerr)
				}
			},
			plugins:    func(m *Plugin) []tp.Plugin { return []tp.Plugin{m, refuse{}} },
			unanswered: 1, // counted when the session closes
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate = make(chan struct{})
			m, reg := newRegistered(t, "")
			timedOut := make(chan struct{}, 1)
			m.timedOut = func() { timedOut <- struct{}{} }
			plugins := []tp.Plugin{m}
			if tt.plugins != nil {
				plugins = tt.plugins(m)
			}
			p := newPair(t, tp.NewPeer(nil), tp.NewPeer(nil, plugins...))
			tt.pull(t, p.sess, timedOut)
			close(gate)
			p.close(t)

			var wantCount float64
			if tt.wantCode != "" {
				wantCount = 1
			}
			if got := count(t, reg, "client_pulls_total", routeCode("/calc/block", tt.wantCode)); got != wantCount {
				t.Errorf("client_pulls_total{code=%q} = %v, want %v", tt.wantCode, got, wantCount)
			}
			if got := count(t, reg, "client_pull_duration_seconds", routeCode("/calc/block", tt.wantCode)); got != wantCount {
				t.Errorf("client_pull_duration_seconds{code=%q} count = %v, want %v", tt.wantCode, got, wantCount)
			}
			if got := count(t, reg, "client_pulls_unanswered_total", route("/calc/block")); got != tt.unanswered {
				t.Errorf("client_pulls_unanswered_total = %v, want %v", got, tt.unanswered)
			}
			if n := len(m.pendingKeys()); n != 0 {
				t.Errorf("%d client pulls left pending", n)
			}
		})
	}
}

// TestRefusedSessionNotCounted checks that a session refused by an earlier
// PostAccept hook, whose PostDisconnect still runs, leaves the gauge at 0.
func TestRefusedSessionNotCounted(t *testing.T) {
	m, reg := newRegistered(t, "")
	done := make(disconnected, 1)
	p := newPair(t, tp.NewPeer(nil, refuse{}, m, done), tp.NewPeer(nil))
	<-done
	p.close(t)
	if got := count(t, reg, "sessions_open", nil); got != 0 {
		t.Errorf("sessions_open = %v, want 0", got)
	}
	if got := count(t, reg, "sessions_closed_total", nil); got != 0 {
		t.Errorf("sessions_closed_total = %v, want 0", got)
	}
}

// TestRoutesRegisteredBeforeAdd documents that routes registered before the
// plugin was added are labelled Unmatched.
func TestRoutesRegisteredBeforeAdd(t *testing.T) {
	m, reg := newRegistered(t, "")
	srv := tp.NewPeer(nil)
	p := newPair(t, srv, tp.NewPeer(nil))
	if err := srv.PluginContainer().Add(m); err != nil {
		t.Fatal(err)
	}
	if rerr := p.sess.Pull("/calc/echo", "x", nil).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	p.close(t)
	if got := count(t, reg, "server_pulls_total", routeCode(Unmatched, "0")); got != 1 {
		t.Errorf("server_pulls_total{route=%s} = %v, want 1", Unmatched, got)
	}
}

// pendingKeys returns the keys of the pulls not yet observed.
func (p *Plugin) pendingKeys() []pullKey {
	var keys []pullKey
	p.pending.Range(func(k, _ any) bool {
		keys = append(keys, k.(pullKey))
		return true
	})
	return keys
}
