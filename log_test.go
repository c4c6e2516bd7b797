package tp

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/syncbuf"
)

// captureLog routes the log into a buffer at level for the test.
func captureLog(t *testing.T, level string) *syncbuf.Buffer {
	buf := new(syncbuf.Buffer)
	oldLevel := LoggerLevel()
	SetLogger(NewSlogLogger(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.Level(-100), ReplaceAttr: replaceLevelName})))
	SetLoggerLevel(level)
	t.Cleanup(func() {
		SetLogger(NewSlogLogger(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.Level(-100)})))
		SetLoggerLevel(oldLevel)
	})
	return buf
}

func TestMessageLogLines(t *testing.T) {
	tests := []struct {
		name    string
		level   string
		cfg     PeerConfig
		uri     string
		args    interface{}
		want    []string
		notWant []string
	}{
		{
			name: "info: pull handled, no bodies or cost", level: "INFO",
			uri: "/home/test_add?x=1", args: [2]int{1, 2},
			want: []string{"level=INFO", "pull handled", "uri=/home/test_add?x=1", "seq=1", "code=0", "session=127.0.0.1:"},
			// The id is the remote address: it is printed once.
			notWant: []string{"cost=", "in=", "pull done", "remote="},
		},
		{
			name: "debug: both sides, with cost and bodies", level: "DEBUG",
			cfg: PeerConfig{CountTime: true, PrintBody: true},
			uri: "/home/test_add", args: [2]int{1, 2},
			want: []string{"pull handled", "pull done", "cost=", "in=[1,2]", "out=3"},
		},
		{
			name: "error code is logged", level: "INFO",
			uri: "/home/missing", args: 1,
			want: []string{"code=404", "uri=/home/missing"},
		},
		{
			name: "slow calls are warnings", level: "WARNING",
			cfg: PeerConfig{SlowCometDuration: time.Millisecond},
			uri: "/home/sleep", args: 20,
			want: []string{"level=WARN", "pull handled", "(slow)", "cost="},
		},
		{
			name: "bodies are truncated past 1 KiB", level: "DEBUG",
			cfg: PeerConfig{PrintBody: true},
			uri: "/home/echo", args: strings.Repeat("x", 3000),
			want: []string{"...(3002 bytes)"},
		},
		{
			name: "filtered out at the default level", level: DefaultLoggerLevel,
			uri: "/home/test_add", args: [2]int{1, 2},
			notWant: []string{"pull handled", "pull done"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := captureLog(t, tt.level)
			cfg := tt.cfg
			p := newPair(t, &cfg, &cfg, regHome)
			p.cliSess.Pull(tt.uri, tt.args, nil)
			waitFor(t, "the handler to finish", func() bool { return p.srv.handling.Load() == 0 })
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("log has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestPushLogLines(t *testing.T) {
	buf := captureLog(t, "DEBUG")
	p := newPair(t, nil, nil, regHome)
	p.cliSess.Push("/note/say", "hello")
	<-notes
	waitFor(t, "the push to be logged", func() bool { return strings.Contains(buf.String(), "push handled") })
	if out := buf.String(); !hasAllStrings(out, "push sent", "push handled", "uri=/note/say") {
		t.Fatalf("log:\n%s", out)
	}
}

func hasAllStrings(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestLoggerLevels(t *testing.T) {
	buf := captureLog(t, "WARNING")
	Tracef("t")
	Debugf("d")
	Infof("i")
	Noticef("n")
	Warnf("w %d", 1)
	Errorf("e")
	Criticalf("c")
	Printf("p")
	out := buf.String()
	for _, w := range []string{"msg=\"w 1\"", "level=ERROR msg=e", "level=CRITICAL msg=c", "level=PRINT msg=p"} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
	for _, w := range []string{"msg=t", "msg=d", "msg=i", "msg=n"} {
		if strings.Contains(out, w) {
			t.Errorf("log has %q, filtered by WARNING:\n%s", w, out)
		}
	}
	SetLoggerLevel("OFF")
	Printf("silent")
	if strings.Contains(buf.String(), "silent") {
		t.Fatal("OFF printed")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "LOUD") {
			t.Fatalf("SetLoggerLevel of an unknown level: %v", r)
		}
	}()
	SetLoggerLevel("LOUD")
}

// A filtered-out message line costs no allocation.
func TestFilteredLogDoesNotAllocate(t *testing.T) {
	captureLog(t, DefaultLoggerLevel)
	p := newPair(t, nil, nil, regHome)
	s := p.srvSess.(*session)
	c := p.srv.getCtx(s)
	defer p.srv.putCtx(c)
	c.input.SetUri("/home/test_add")
	if allocs := testing.AllocsPerRun(100, func() { s.logHandled(c, "pull") }); allocs != 0 {
		t.Fatalf("a filtered log line allocated %.1f times", allocs)
	}
}

func BenchmarkLogFiltered(b *testing.B) {
	atDefaultLogLevel(b)
	p := newPair(b, nil, nil, regHome)
	s := p.srvSess.(*session)
	c := p.srv.getCtx(s)
	defer p.srv.putCtx(c)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.logHandled(c, "pull")
	}
}

// TestDefaultLoggerPrintsStacksOnLines: a message of several lines, such as
// a panic and its stack, prints its first line as the record and the rest
// below it, indented, not as one line of \n escapes.
func TestDefaultLoggerPrintsStacksOnLines(t *testing.T) {
	var buf syncbuf.Buffer
	l := NewSlogLogger(newLinesHandler(&buf))
	l.Errorf("tp: panic in handler %s: %v\n%s", "/a", "boom", "goroutine 1 [running]:\nmain.main()\n\tmain.go:3")
	l.Warnf("one line")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], `msg="tp: panic in handler /a: boom"`) || !strings.Contains(lines[0], "level=ERROR") {
		t.Fatalf("first line %q", lines[0])
	}
	if lines[1] != "\tgoroutine 1 [running]:" || lines[3] != "\t\tmain.go:3" {
		t.Fatalf("stack lines %q", lines[1:4])
	}
	if !strings.Contains(lines[4], `msg="one line"`) {
		t.Fatalf("next record %q", lines[4])
	}
}

// goutil/graceful's own lines go through the configured logger.
func TestGracefulLogsThroughTheLogger(t *testing.T) {
	buf := captureLog(t, "NOTICE")
	gracefulLog{}.Infof("shutting down process...")
	gracefulLog{}.Errorf("timeout %d", 3)
	out := buf.String()
	if !strings.Contains(out, "level=NOTICE") || !strings.Contains(out, "tp: graceful: shutting down process...") ||
		!strings.Contains(out, "level=ERROR") || !strings.Contains(out, "tp: graceful: timeout 3") {
		t.Fatalf("log:\n%s", out)
	}
}

// refuseAccept refuses every accepted connection.
type refuseAccept struct{}

func (refuseAccept) Name() string { return "refuse-accept" }
func (refuseAccept) PostAccept(PreSession) *Rerror {
	return NewRerror(401, "Unauthorized", "no token")
}

// A connection refused by a PostAccept hook is one log line on the server,
// and none on the client, which gets the error.
func TestRefusedDialIsOneLine(t *testing.T) {
	buf := captureLog(t, "NOTICE")
	srv := NewPeer(nil, refuseAccept{})
	lis := listenLoopback(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := NewPeer(nil)
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "the refusal", func() bool { return strings.Contains(buf.String(), "refused") })
	waitFor(t, "the client to see the close", func() bool { return !sess.IsOk() })
	cli.Close()
	srv.Close()
	<-served
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "127.0.0.1") && !strings.Contains(l, "listening") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "refused") || !strings.Contains(lines[0], "no token") {
		t.Fatalf("log lines about the refused connection:\n%s", strings.Join(lines, "\n"))
	}
}

// Evil is a controller whose handler panics with what the caller sent.
type Evil struct{ PullCtx }

// Panic panics with its argument.
func (e *Evil) Panic(s *string) (int, *Rerror) { panic(*s) }

// Control characters a remote peer puts in a URI, a panic value or a frame
// never reach the log raw: no line is forged, no terminal sequence
// written, whichever line carries them (issue 25, defect 4).
func TestLogInjection(t *testing.T) {
	const evil = "/evil\nFORGED level=ERROR msg=pwned\r\x1b[2J\u202ex"
	buf := new(syncbuf.Buffer)
	oldLevel := LoggerLevel()
	SetLogger(NewSlogLogger(newLinesHandler(buf)))
	SetLoggerLevel("TRACE")
	t.Cleanup(func() {
		SetLogger(NewSlogLogger(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.Level(-100)})))
		SetLoggerLevel(oldLevel)
	})
	gate = make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release()
	e := newHostileEnv(t, hostileRow{srvCfg: &PeerConfig{MaxSessionHandlers: 1, RejectOverload: true}, bound: 5 * time.Second})
	e.srv.PullRouter.Reg(new(Evil))
	e.srv.PullRouter.Reg(new(Gate))
	c := e.dial(t)
	evilJSON, _ := json.Marshal(evil)
	push := func(seq uint64, uri string) []byte {
		return rawFrame{payload: rawPayload{seq: seq, ptype: TypePush, uri: uri, codec: 'j', body: []byte(`"x"`)}.bytes()}.bytes()
	}
	frames := [][]byte{
		pullFrame(1, evil, "1"), // not found: the per-message line
		pullFrame(2, "/evil/panic", string(evilJSON)),
		push(3, evil), // a push to no route
		rawFrame{payload: rawPayload{seq: 4, ptype: 9, uri: evil}.bytes()}.bytes(), // an unknown type
	}
	undeliveredPushLog.next.Store(0)
	for i, f := range frames {
		if err := c.send(f); err != nil {
			t.Fatal(err)
		}
		if i < 2 { // a pull: one handler at a time
			c.reply(t, uint64(i+1), 5*time.Second)
			waitFor(t, "the handler's slot", func() bool { return e.srv.handling.Load() == 0 })
		}
	}
	waitFor(t, "the push's line", func() bool { return strings.Contains(buf.String(), "dropped a push") })
	// A push dropped under overload: one handler held, then a push.
	if err := c.send(pullFrame(5, "/gate/wait", "0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held handler", func() bool { return e.srv.handling.Load() == 1 })
	overloadLog.next.Store(0)
	if err := c.send(push(6, "/sink/put?q="+evil)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the overload line", func() bool { return strings.Contains(buf.String(), "overloaded, dropped push") })
	release()
	c.reply(t, 5, 5*time.Second)
	// A frame with a filter id that is an escape character closes the
	// session, logging why.
	bad := e.dial(t)
	if err := bad.send(rawFrame{xferIds: []byte{0x1b}, payload: rawPayload{seq: 1, ptype: TypePull, uri: evil}.bytes()}.bytes()); err != nil {
		t.Fatal(err)
	}
	bad.closedWithin(t, 5*time.Second)
	waitFor(t, "the bad filter's line", func() bool { return strings.Count(buf.String(), "closed") > 0 })

	out := buf.String()
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "time=") && !strings.HasPrefix(line, "\t") {
			t.Errorf("line %d is no record of the logger (a forged line?): %q", i+1, line)
		}
		for _, r := range line {
			if r != '\t' && needsEscape(r) {
				t.Errorf("line %d holds %U raw: %q", i+1, r, line)
				break
			}
		}
	}
	for _, want := range []string{"pull handled", "panic in handler", "dropped a push", "unknown type", "overloaded, dropped push"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q line was logged", want)
		}
	}
}
