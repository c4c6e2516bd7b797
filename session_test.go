package tp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

func regHome(srv, cli *Peer) {
	srv.PullRouter.Reg(new(Home))
	srv.PushRouter.Reg(new(Note))
	cli.PullRouter.Reg(new(Home))
	cli.PushRouter.Reg(new(Note))
}

func TestPullBothDirections(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	for _, tc := range []struct {
		name string
		sess Session
	}{{"client to server", p.cliSess}, {"server to client", p.srvSess}} {
		t.Run(tc.name, func(t *testing.T) {
			var sum int
			cmd := tc.sess.Pull("/home/test_add?trace=1", &[2]int{1, 2}, &sum)
			if cmd.Rerror() != nil || sum != 3 {
				t.Fatalf("Pull = %d, %v; want 3, nil", sum, cmd.Rerror())
			}
			reply, rerr := cmd.Result()
			if rerr != nil || *reply.(*int) != 3 || cmd.CostTime() <= 0 || cmd.Output().Uri() != "/home/test_add?trace=1" {
				t.Fatalf("Result = %v, %v; cost %v", reply, rerr, cmd.CostTime())
			}
			if cmd.Session() != tc.sess || cmd.Peer() != tc.sess.Peer() || cmd.Ip() != "127.0.0.1" {
				t.Fatalf("PullCmd accessors point elsewhere")
			}
			if rerr := tc.sess.Push("/note/say", "hi"); rerr != nil {
				t.Fatalf("Push: %v", rerr)
			}
			if got := <-notes; got != "/note/say hi" {
				t.Fatalf("push handler got %q", got)
			}
		})
	}
}

func TestPullResults(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	tests := []struct {
		name     string
		uri      string
		args     interface{}
		reply    func() interface{}
		setting  []socket.PacketSetting
		wantCode int32
		want     string // reply rendered with %v after dereference
		wantMsg  string // substring of the Rerror
	}{
		{name: "sum", uri: "/home/test_add", args: [2]int{40, 2}, reply: func() interface{} { return new(int) }, want: "42"},
		{name: "string codec", uri: "/home/echo", args: "hey", reply: func() interface{} { return new(string) }, setting: []socket.PacketSetting{socket.WithBodyCodec(codec.IdString)}, want: "hey"},
		{name: "bytes use the string codec", uri: "/home/bytes", args: []byte("raw\x00bytes"), reply: func() interface{} { return new([]byte) }, want: "raw\x00bytes"},
		{name: "protobuf-free json map", uri: "/home/ctx?a=1", args: struct{}{}, reply: func() interface{} { return new(map[string]interface{}) }, want: "map[codec:j ip:127.0.0.1 ok:true raw:a=1 seq:"},
		{name: "handler error", uri: "/home/fail", args: 418, reply: func() interface{} { return new(int) }, wantCode: 418, wantMsg: "failed on purpose"},
		{name: "nil result completes", uri: "/home/nothing", args: struct{}{}, reply: func() interface{} { return new(struct{}) }, want: "{}"},
		{name: "unknown route", uri: "/home/missing?x=1", args: 1, reply: func() interface{} { return new(int) }, wantCode: CodeNotFound, wantMsg: "/home/missing"},
		{name: "undecodable body", uri: "/home/test_add", args: "not an array", reply: func() interface{} { return new(int) }, wantCode: CodeBadPacket, wantMsg: "cannot unmarshal"},
		{name: "handler panic", uri: "/home/panic", args: struct{}{}, reply: func() interface{} { return new(int) }, wantCode: CodeInternalServerError, wantMsg: "boom"},
		{name: "gzip both ways with metadata and query", uri: "/home/meta?q=a%20b", args: struct{}{}, reply: func() interface{} { return new(string) },
			setting: []socket.PacketSetting{socket.WithXferPipe('g'), socket.WithSetMeta("k", "v&w")}, want: "/home/meta|a b|v&w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := tt.reply()
			cmd := p.cliSess.Pull(tt.uri, tt.args, reply, tt.setting...)
			rerr := cmd.Rerror()
			if tt.wantCode != 0 {
				if rerr == nil || rerr.Code != tt.wantCode || !strings.Contains(rerr.String(), tt.wantMsg) {
					t.Fatalf("Rerror = %v, want code %d saying %q", rerr, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if rerr != nil {
				t.Fatalf("Rerror = %v", rerr)
			}
			got := fmt.Sprintf("%v", derefForTest(reply))
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("reply = %q, want %q", got, tt.want)
			}
		})
	}
	// The session survived every failure above.
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 1}, &sum).Rerror(); rerr != nil || sum != 2 {
		t.Fatalf("session broken after the failures: %v", rerr)
	}
}

func derefForTest(v interface{}) interface{} {
	switch v := v.(type) {
	case *int:
		return *v
	case *string:
		return *v
	case *[]byte:
		return string(*v)
	case *map[string]interface{}:
		return *v
	case *struct{}:
		return "{}"
	}
	return v
}

// The handler's reply metadata and filters reach the caller's packet.
func TestReplyMetaAndXferReachCaller(t *testing.T) {
	var seen struct {
		sync.Mutex
		meta  string
		xfer  []string
		codec byte
	}
	spy := &replySpy{fn: func(c ReadCtx) {
		seen.Lock()
		defer seen.Unlock()
		seen.meta = string(c.GetMeta("reply-key"))
		seen.xfer = c.Input().XferPipe().Names()
		seen.codec = c.Input().BodyCodec()
	}}
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		regHome(srv, cli)
		cli.PluginContainer().Add(spy)
	})
	var got string
	if rerr := p.cliSess.Pull("/home/meta", struct{}{}, &got).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	seen.Lock()
	defer seen.Unlock()
	if seen.meta != "reply value" || len(seen.xfer) != 1 || seen.xfer[0] != "gzip" || seen.codec != 's' {
		t.Fatalf("reply carried meta %q, filters %v, codec %q", seen.meta, seen.xfer, seen.codec)
	}
}

type replySpy struct{ fn func(ReadCtx) }

func (r *replySpy) Name() string { return "reply-spy" }
func (r *replySpy) PostReadReplyBody(c ReadCtx) *Rerror {
	r.fn(c)
	return nil
}

// Fifty goroutines pull on one session at once; each reply reaches its own
// caller.
func TestConcurrentPullsOnOneSession(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	const goroutines, pulls = 50, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range pulls {
				var sum int
				if rerr := p.cliSess.Pull("/home/test_add", &[2]int{g * 1000, i}, &sum).Rerror(); rerr != nil {
					errs <- rerr.ToError()
					return
				}
				if sum != g*1000+i {
					errs <- fmt.Errorf("goroutine %d pull %d got %d", g, i, sum)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAsyncPull(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	done := make(chan *PullCmd, 10)
	replies := make([]int, 10)
	for i := range replies {
		p.cliSess.AsyncPull("/home/test_add", [2]int{i, i}, &replies[i], done)
	}
	for range replies {
		if cmd := <-done; cmd.Rerror() != nil {
			t.Fatal(cmd.Rerror())
		}
	}
	for i, r := range replies {
		if r != 2*i {
			t.Fatalf("reply %d = %d", i, r)
		}
	}
	// A nil done channel is replaced; an unbuffered one still gets its
	// result.
	unbuffered := make(chan *PullCmd)
	var sum int
	p.cliSess.AsyncPull("/home/test_add", [2]int{2, 2}, &sum, unbuffered)
	if cmd := <-unbuffered; cmd.Rerror() != nil || sum != 4 {
		t.Fatalf("unbuffered done: %v, %d", cmd.Rerror(), sum)
	}
	p.cliSess.AsyncPull("/home/test_add", [2]int{2, 2}, nil, nil)
}

func TestPullContextDeadline(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var ms int
	cmd := p.cliSess.Pull("/home/sleep", 300, &ms, socket.WithContext(ctx))
	if rerr := cmd.Rerror(); rerr == nil || rerr.Code != CodeHandleTimeout || !strings.Contains(rerr.Detail, "deadline") {
		t.Fatalf("Rerror = %v, want CodeHandleTimeout", rerr)
	}
	if cmd.CostTime() > 250*time.Millisecond {
		t.Fatalf("the pull waited %v, past its deadline", cmd.CostTime())
	}
	s := p.cliSess.(*session)
	if n := s.pending.len(); n != 0 {
		t.Fatalf("%d pulls left in the pending table", n)
	}
	// The late reply arrives and is discarded; the reply object is untouched.
	waitFor(t, "the late reply to be handled", func() bool { return p.srv.handling.Load() == 0 })
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
		t.Fatalf("pull after the late reply: %v %d", rerr, sum)
	}
	if ms != 0 {
		t.Fatalf("late reply was decoded into the reply object: %d", ms)
	}

	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if rerr := p.cliSess.Pull("/home/sleep", 1, nil, socket.WithContext(cancelled)).Rerror(); rerr == nil || rerr.Code != CodeHandleTimeout {
		t.Fatalf("cancelled context: Rerror = %v", rerr)
	}
}

func TestCloseEndsWaitingPulls(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	done := make(chan *PullCmd, 5)
	for range 5 {
		p.cliSess.AsyncPull("/home/sleep", 2000, nil, done)
	}
	waitFor(t, "the pulls to be handled", func() bool { return p.srv.handling.Load() == 5 })
	if err := p.cliSess.Close(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case cmd := <-done:
			if rerr := cmd.Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
				t.Fatalf("Rerror = %v, want CodeConnClosed", rerr)
			}
		case <-time.After(time.Second):
			t.Fatal("a waiting pull did not end on Close")
		}
	}
	if p.cliSess.IsOk() {
		t.Fatal("IsOk after Close")
	}
	if err := p.cliSess.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil).Rerror(); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("pull on a closed session: %v", rerr)
	}
	if rerr := p.cliSess.Push("/note/say", "x"); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("push on a closed session: %v", rerr)
	}
	waitFor(t, "the server to drop the session", func() bool { return p.srv.CountSession() == 0 })
	if p.cli.CountSession() != 0 {
		t.Fatalf("client still counts %d sessions", p.cli.CountSession())
	}
}

func TestUnknownHandlers(t *testing.T) {
	unknownPush := make(chan string, 1)
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		srv.PullRouter.SetUnknown(func(ctx UnknownPullCtx) (interface{}, *Rerror) {
			var args map[string]int
			id, err := ctx.Bind(&args)
			if err != nil {
				return nil, NewRerror(CodeBadPacket, "bind", err.Error())
			}
			ctx.SetMeta("seen", "yes")
			return fmt.Sprintf("%s got %d via %c (%d raw bytes)", ctx.Path(), args["n"], id, len(ctx.InputBodyBytes())), nil
		})
		srv.PushRouter.SetUnknown(func(ctx UnknownPushCtx) {
			unknownPush <- ctx.Uri() + " " + string(ctx.InputBodyBytes())
		})
	})
	var got string
	if rerr := p.cliSess.Pull("/any/where?x=1", map[string]int{"n": 7}, &got).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	if got != `/any/where got 7 via j (7 raw bytes)` {
		t.Fatalf("unknown pull handler answered %q", got)
	}
	p.cliSess.Push("/any/push", "raw")
	if got := <-unknownPush; got != `/any/push "raw"` {
		t.Fatalf("unknown push handler got %q", got)
	}
}

// Without an unknown push handler, an unknown push is dropped and the
// session goes on.
func TestUnknownPushDropped(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	if rerr := p.cliSess.Push("/nowhere", 1); rerr != nil {
		t.Fatalf("Push: %v", rerr)
	}
	if rerr := p.cliSess.Push("/note/panic", struct{}{}); rerr != nil {
		t.Fatalf("Push: %v", rerr)
	}
	if rerr := p.cliSess.Push("/note/say", "after"); rerr != nil {
		t.Fatal(rerr)
	}
	if got := <-notes; got != "/note/say after" {
		t.Fatalf("got %q", got)
	}
}

func TestSetIdRekeys(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	old := p.srvSess.Id()
	if _, ok := p.srv.GetSession(old); !ok {
		t.Fatalf("session not found under its default id %q", old)
	}
	p.srvSess.SetId("alice")
	if s, ok := p.srv.GetSession("alice"); !ok || s != p.srvSess {
		t.Fatal("session not found under its new id")
	}
	if _, ok := p.srv.GetSession(old); ok {
		t.Fatal("session still found under its old id")
	}
	n := 0
	p.srv.RangeSession(func(Session) bool { n++; return true })
	if n != 1 || p.srv.CountSession() != 1 {
		t.Fatalf("RangeSession saw %d, CountSession %d", n, p.srv.CountSession())
	}
}

// A reply that cannot be encoded turns into an error reply: the caller is
// never left waiting.
func TestUnencodableReply(t *testing.T) {
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		srv.PullRouter.SetUnknown(func(ctx UnknownPullCtx) (interface{}, *Rerror) {
			return make(chan int), nil // JSON cannot encode a channel
		})
	})
	rerr := p.cliSess.Pull("/x", 1, nil).Rerror()
	if rerr == nil || rerr.Code != CodeInternalServerError || !strings.Contains(rerr.Detail, "marshal") {
		t.Fatalf("Rerror = %v", rerr)
	}
}

func TestRerrorInMeta(t *testing.T) {
	r := NewRerror(418, "teapot", `a "quoted" & odd detail`)
	p := socket.NewPacket()
	r.SetToMeta(p.Meta())
	var raw map[string]interface{}
	if err := json.Unmarshal(p.Meta().Peek(MetaRerrorKey), &raw); err != nil || raw["code"] != 418.0 {
		t.Fatalf("meta JSON %s: %v", p.Meta().Peek(MetaRerrorKey), err)
	}
	got := NewRerrorFromMeta(p.Meta())
	if *got != *r {
		t.Fatalf("round trip gave %v", got)
	}
	if NewRerrorFromMeta(socket.NewPacket().Meta()) != nil {
		t.Fatal("a packet without the key has a Rerror")
	}
	p.Meta().Set(MetaRerrorKey, "{bad")
	if bad := NewRerrorFromMeta(p.Meta()); bad == nil || bad.Code != CodeBadPacket {
		t.Fatalf("malformed meta gave %v", bad)
	}
	err := r.ToError()
	var back *Rerror
	if !errors.As(err, &back) || back.Code != 418 || !errors.Is(err, NewRerror(418, "", "").ToError()) || errors.Is(err, NewRerror(1, "", "").ToError()) {
		t.Fatalf("ToError does not unwrap: %v", err)
	}
	if (*Rerror)(nil).ToError() != nil {
		t.Fatal("a nil Rerror became a non-nil error")
	}
	if c := r.Copy(); c == r || *c != *r {
		t.Fatal("Copy")
	}
	if !strings.Contains(err.Error(), "418") || !strings.Contains(r.String(), "teapot") {
		t.Fatalf("Error() = %q, String() = %q", err, r)
	}
}

// An unknown filter id in a setting fails the write with a clear error;
// nothing is sent and the session goes on.
func TestUnknownFilterSettingFailsTheWrite(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil, socket.WithXferPipe(0xEE))
	if r := rerr.Rerror(); r == nil || r.Code != CodeWriteFailed || !strings.Contains(r.Detail, "unknown filter") {
		t.Fatalf("Pull = %v, want CodeWriteFailed naming the unknown filter", r)
	}
	if r := p.cliSess.Push("/note/say", "x", socket.WithXferPipe(0xEE)); r == nil || !strings.Contains(r.Detail, "unknown filter") {
		t.Fatalf("Push = %v", r)
	}
	var sum int
	if r := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); r != nil || sum != 3 {
		t.Fatalf("the session broke: %v", r)
	}
}

// The caller reads the metadata a handler set on its reply.
func TestPullCmdInputMeta(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	var got string
	cmd := p.cliSess.Pull("/home/meta", struct{}{}, &got)
	if cmd.Rerror() != nil {
		t.Fatal(cmd.Rerror())
	}
	if v := string(cmd.InputMeta().Peek("reply-key")); v != "reply value" {
		t.Fatalf("InputMeta reply-key = %q", v)
	}
	plain := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, nil)
	if plain.InputMeta().Len() != 0 {
		t.Fatalf("a reply without metadata has %d pairs", plain.InputMeta().Len())
	}
	failed := p.cliSess.Pull("/home/fail", 499, nil)
	if failed.InputMeta().Peek(MetaRerrorKey) == nil {
		t.Fatal("an error reply's metadata lacks the Rerror")
	}
}

var twoIpSchemes atomic.Int64

// A session whose id is its remote address is indexed by the address it
// has now: after a redial to another address behind the same name, the
// peer finds it under the new one, not the old, and nothing is left in
// the index once it closes.
func TestSessionTableFollowsARedial(t *testing.T) {
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	srv.PullRouter.Reg(new(Home))
	listenPeer(t, srv)
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	var dials atomic.Int64
	scheme := fmt.Sprintf("two-ip-%d", twoIpSchemes.Add(1)) // one per run of the test
	RegDialer(scheme, func(ctx context.Context, _ *Peer, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addrs[(dials.Add(1)-1)%2])
	})
	cli := NewPeer(&PeerConfig{RedialTimes: 5})
	defer cli.Close()
	sess, rerr := cli.Dial(scheme + "://service")
	if rerr != nil {
		t.Fatal(rerr)
	}
	first := sess.Id()
	serverSession(t, srv).Close()
	waitFor(t, "the redial", func() bool { return dials.Load() >= 2 && sess.IsOk() && sess.Id() != first })
	second := sess.Id()
	if second == first {
		t.Fatalf("the redialed session kept the id %s", first)
	}
	if got, ok := cli.GetSession(second); !ok || got != sess {
		t.Fatalf("GetSession(%s) = %v, %v; want the redialed session", second, got, ok)
	}
	if got, ok := cli.GetSession(first); ok {
		t.Fatalf("GetSession(%s), the old address, still finds %v", first, got)
	}
	sess.Close()
	cli.sessions.mu.RLock()
	left := len(cli.sessions.byId)
	cli.sessions.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d index entries left after the session closed", left)
	}
}
