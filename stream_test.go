package tp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// Chat is a stream controller: Echo sends back every message until the
// opener's end, with a header; Count sends n numbers (server-streaming);
// Sum adds what it receives (client-streaming); Panic panics mid-stream;
// Hold blocks, neither reading nor accepting, until its context ends.
type Chat struct{ StreamCtx }

func (c *Chat) Echo(prefix *string) *Rerror {
	c.SetHeader("who", "echo")
	for {
		var msg string
		if err := c.Recv(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return NewRerror(CodeBadPacket, "recv", err.Error())
		}
		if err := c.Send(*prefix + msg); err != nil {
			return NewRerror(CodeWriteFailed, "send", err.Error())
		}
	}
}

func (c *Chat) Count(n *int) *Rerror {
	for i := range *n {
		if err := c.Send(i); err != nil {
			return NewRerror(CodeWriteFailed, "send", err.Error())
		}
	}
	return nil
}

func (c *Chat) Sum(*struct{}) *Rerror {
	sum := 0
	for {
		var n int
		if err := c.Recv(&n); err == io.EOF {
			break
		} else if err != nil {
			return NewRerror(CodeBadPacket, "recv", err.Error())
		}
		sum += n
	}
	if err := c.Send(sum); err != nil {
		return NewRerror(CodeWriteFailed, "send", err.Error())
	}
	return nil
}

func (c *Chat) Panic(*struct{}) *Rerror {
	var msg string
	_ = c.Recv(&msg)
	panic("mid-stream")
}

// Stall accepts, then reads nothing until its context ends.
func (c *Chat) Stall(*struct{}) *Rerror {
	c.SendHeader()
	<-c.Context().Done()
	return nil
}

func (c *Chat) Hold(*struct{}) *Rerror {
	<-c.Context().Done()
	return nil
}

func chatPair(t *testing.T, srvCfg, cliCfg *PeerConfig) *pair {
	t.Helper()
	return newPair(t, srvCfg, cliCfg, func(srv, cli *Peer) {
		srv.StreamRouter.Reg(new(Chat))
		srv.PullRouter.Reg(new(Home))
		cli.StreamRouter.Reg(new(Chat))
	})
}

// TestStreamShapes: bidirectional, server-streaming and client-streaming
// uses of one stream, opened by the dialing side and by the accepting side.
func TestStreamShapes(t *testing.T) {
	p := chatPair(t, nil, nil)
	for _, dir := range []struct {
		name string
		sess Session
	}{{"client opens", p.cliSess}, {"server opens", p.srvSess}} {
		t.Run(dir.name+"/echo", func(t *testing.T) {
			st, rerr := dir.sess.OpenStream("/chat/echo", "re:", socket.WithSetMeta("trace", "t1"))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := string(st.Header().Peek("who")); got != "echo" {
				t.Fatalf("header who=%q", got)
			}
			for i := range 50 {
				if err := st.Send(strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
				var got string
				if err := st.Recv(&got); err != nil || got != "re:"+strconv.Itoa(i) {
					t.Fatalf("message %d: %q, %v", i, got, err)
				}
			}
			if err := st.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := st.Recv(&got); err != io.EOF {
				t.Fatalf("Recv after the end: %q, %v; want io.EOF", got, err)
			}
			if err := st.Send("late"); err == nil {
				t.Fatal("Send after CloseSend succeeded")
			}
			st.Close()
		})
		t.Run(dir.name+"/server-streaming", func(t *testing.T) {
			n := 1000
			st, rerr := dir.sess.OpenStream("/chat/count", n)
			if rerr != nil {
				t.Fatal(rerr)
			}
			defer st.Close()
			for i := range n {
				var got int
				if err := st.Recv(&got); err != nil || got != i {
					t.Fatalf("message %d: %d, %v", i, got, err)
				}
			}
			if err := st.Recv(new(int)); err != io.EOF {
				t.Fatalf("after the last: %v, want io.EOF", err)
			}
		})
		t.Run(dir.name+"/client-streaming", func(t *testing.T) {
			st, rerr := dir.sess.OpenStream("/chat/sum", struct{}{})
			if rerr != nil {
				t.Fatal(rerr)
			}
			defer st.Close()
			want := 0
			for i := range 2000 {
				want += i
				if err := st.Send(i); err != nil {
					t.Fatal(err)
				}
			}
			st.CloseSend()
			var sum int
			if err := st.Recv(&sum); err != nil || sum != want {
				t.Fatalf("sum %d, %v; want %d", sum, err, want)
			}
		})
	}
}

// TestStreamOpenWithoutArgs: a stream opened with no argument carries its
// messages in the peer's default codec.
func TestStreamOpenWithoutArgs(t *testing.T) {
	p := chatPair(t, nil, nil)
	st, rerr := p.cliSess.OpenStream("/chat/sum", nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer st.Close()
	for _, n := range []int{1, 2, 3} {
		if err := st.Send(n); err != nil {
			t.Fatal(err)
		}
	}
	st.CloseSend()
	var sum int
	if err := st.Recv(&sum); err != nil || sum != 6 {
		t.Fatalf("sum %d, %v", sum, err)
	}
}

// TestStreamFlowControl: a receiver that does not read bounds what its
// sender may send to one window; the blocked Send ends with its context,
// and pulls and other streams on the same session go on meanwhile.
func TestStreamFlowControl(t *testing.T) {
	const window = 4096
	p := chatPair(t, &PeerConfig{StreamWindow: window}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	st, rerr := p.cliSess.OpenStream("/chat/stall", struct{}{}, socket.WithContext(ctx))
	if rerr != nil {
		t.Fatal(rerr)
	}
	msg := make([]byte, 1000)
	sent := 0
	blocked := make(chan int, 1)
	go func() {
		for {
			if err := st.Send(msg); err != nil {
				blocked <- sent
				return
			}
			sent++
		}
	}()
	// Meanwhile, on the same session: a pull and another stream.
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
		t.Fatalf("pull beside a blocked stream: %d, %v", sum, rerr)
	}
	other, rerr := p.cliSess.OpenStream("/chat/count", 3)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for i := range 3 {
		var got int
		if err := other.Recv(&got); err != nil || got != i {
			t.Fatalf("other stream: %d, %v", got, err)
		}
	}
	other.Close()
	cancel()
	n := <-blocked
	if want := window / (1000 + msgCost); n != want {
		t.Fatalf("%d messages sent before the credit ran out, want %d (window %d)", n, want, window)
	}
	if err := st.Recv(new([]byte)); !errors.Is(err, NewRerror(CodeCanceled, "", "")) {
		t.Fatalf("Recv after the cancel: %v, want code %d", err, CodeCanceled)
	}
}

// TestStreamMessageLargerThanTheWindow: Send refuses at once a message no
// credit would ever cover, and the stream goes on.
func TestStreamMessageLargerThanTheWindow(t *testing.T) {
	p := chatPair(t, &PeerConfig{StreamWindow: 4096}, nil)
	st, rerr := p.cliSess.OpenStream("/chat/echo", "")
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer st.Close()
	if err := st.Send(string(make([]byte, 4096))); err == nil {
		t.Fatal("a message of the whole window was sent")
	}
	if err := st.Send("ok"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := st.Recv(&got); err != nil || got != "ok" {
		t.Fatalf("%q, %v", got, err)
	}
}

// TestStreamEnds: how a stream ends, for each way it can.
func TestStreamEnds(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		act  func(t *testing.T, p *pair, st Stream)
		code int32
	}{
		{"unknown route", "/chat/nothing", nil, CodeNotFound},
		// Send waits for the accept; a refusal is its error, not the
		// window the refused stream never got.
		{"unknown route, sent to", "/chat/nothing", func(t *testing.T, p *pair, st Stream) {
			var got *Rerror
			if err := st.Send("x"); !errors.As(err, &got) || got.Code != CodeNotFound {
				t.Errorf("Send: %v, want code %d", err, CodeNotFound)
			}
		}, CodeNotFound},
		{"handler panics", "/chat/panic", func(t *testing.T, p *pair, st Stream) { _ = st.Send("x") }, CodeInternalServerError},
		{"session closes", "/chat/hold", func(t *testing.T, p *pair, st Stream) { p.cliSess.Close() }, CodeConnClosed},
		{"server session closes", "/chat/hold", func(t *testing.T, p *pair, st Stream) { p.srvSess.Close() }, CodeConnClosed},
		{"closed with an error", "/chat/hold", func(t *testing.T, p *pair, st Stream) { st.CloseWithError(NewRerror(418, "teapot", "")) }, 418},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := chatPair(t, nil, nil)
			st, rerr := p.cliSess.OpenStream(tt.uri, struct{}{})
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tt.act != nil {
				tt.act(t, p, st)
			}
			err := st.Recv(new(string))
			var got *Rerror
			if !errors.As(err, &got) || got.Code != tt.code {
				t.Fatalf("Recv: %v, want code %d", err, tt.code)
			}
			// The session goes on, unless it was closed.
			if p.cliSess.IsOk() {
				var sum int
				if rerr := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil {
					t.Fatalf("pull after the stream: %v", rerr)
				}
			}
		})
	}
}

// TestStreamDeadline: the opener's deadline ends the stream on both sides.
func TestStreamDeadline(t *testing.T) {
	p := chatPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	st, rerr := p.cliSess.OpenStream("/chat/hold", struct{}{}, socket.WithContext(ctx))
	if rerr != nil {
		t.Fatal(rerr)
	}
	err := st.Recv(new(string))
	var got *Rerror
	if !errors.As(err, &got) || got.Code != CodeHandleTimeout {
		t.Fatalf("Recv: %v, want code %d", err, CodeHandleTimeout)
	}
	<-st.Context().Done()
}

// TestStreamLimit: opens past MaxSessionStreams are refused with 503; once
// streams end, new ones are accepted.
func TestStreamLimit(t *testing.T) {
	const limit = 3
	p := chatPair(t, &PeerConfig{MaxSessionStreams: limit}, nil)
	var open []Stream
	for range limit {
		st, rerr := p.cliSess.OpenStream("/chat/hold", struct{}{})
		if rerr != nil {
			t.Fatal(rerr)
		}
		open = append(open, st)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, rerr := p.cliSess.OpenStream("/chat/hold", struct{}{})
			if rerr != nil {
				t.Error(rerr)
				return
			}
			var got *Rerror
			if err := st.Recv(new(int)); !errors.As(err, &got) || got.Code != CodeServiceUnavailable {
				t.Errorf("open past the limit: %v, want 503", err)
			}
		}()
	}
	wg.Wait()
	for _, st := range open {
		st.Close()
	}
	waitFor(t, "the streams to end on the server", func() bool {
		t := p.srvSess.(*session).strm.Load()
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.accepted == 0
	})
	st, rerr := p.cliSess.OpenStream("/chat/count", 1)
	if rerr != nil {
		t.Fatalf("open after the others ended: %v", rerr)
	}
	st.Close()
}

// TestStreamNotUnderstood: towards a peer that does not understand streams
// (teleport v3.0 answers the probe with a 404 and no caps), the open ends
// at once with CodeNotImplemented and nothing is sent.
func TestStreamNotUnderstood(t *testing.T) {
	sess, v3 := dialRaw(t)
	done := make(chan *Rerror, 1)
	go func() {
		_, rerr := sess.OpenStream("/x/y", nil)
		done <- rerr
	}()
	probe := socket.NewPacket()
	if err := v3.ReadPacket(probe); err != nil {
		t.Fatal(err)
	}
	if probe.Ptype() != TypePull {
		t.Fatalf("first frame: type %d, want the probe pull", probe.Ptype())
	}
	reply := socket.NewPacket(socket.WithSeq(probe.Seq()), socket.WithPtype(TypeReply), socket.WithUri(probe.Uri()))
	NewRerror(CodeNotFound, "Not Found", "").SetToMeta(reply.Meta())
	if err := v3.WritePacket(reply); err != nil {
		t.Fatal(err)
	}
	if rerr := <-done; rerr == nil || rerr.Code != CodeNotImplemented {
		t.Fatalf("open towards v3.0: %v, want %d", rerr, CodeNotImplemented)
	}
}

// TestStreamHostileFrames: a raw client breaking the stream rules gets a
// close naming what was wrong, and its session goes on.
func TestStreamHostileFrames(t *testing.T) {
	const window = 4096
	tests := []struct {
		name   string
		frames func(open uint64) []*socket.Packet
		want   string // in the close's error
	}{
		{"message for an unknown stream", func(uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(999, TypeStreamMsg, "", nil, []byte("x"))}
		}, "no stream 999"},
		{"credit for an unknown stream", func(uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(997, TypeStreamCtrl, streamCredit, map[string]string{MetaStreamCredit: "10"}, nil)}
		}, "no stream 997"},
		{"data past the credit", func(id uint64) []*socket.Packet {
			big := make([]byte, 2000)
			return []*socket.Packet{
				streamFrame(id, TypeStreamMsg, "", nil, big),
				streamFrame(id, TypeStreamMsg, "", nil, big),
				streamFrame(id, TypeStreamMsg, "", nil, big),
			}
		}, "passed the credit"},
		{"credit that overflows", func(id uint64) []*socket.Packet {
			return []*socket.Packet{
				streamFrame(id, TypeStreamCtrl, streamCredit, map[string]string{MetaStreamCredit: "1000000000"}, nil),
				streamFrame(id, TypeStreamCtrl, streamCredit, map[string]string{MetaStreamCredit: "1000000000"}, nil),
			}
		}, "credit overflows"},
		{"credit that is no number", func(id uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(id, TypeStreamCtrl, streamCredit, map[string]string{MetaStreamCredit: "-5"}, nil)}
		}, "without a valid"},
		{"an open with the acceptor's parity", func(uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(4, TypeStreamOpen, "/chat/hold", map[string]string{MetaStreamWindow: "4096"}, nil)}
		}, "not one the opener's side may use"},
		{"an open twice", func(id uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(id, TypeStreamOpen, "/chat/hold", map[string]string{MetaStreamWindow: "4096"}, nil)}
		}, "already open"},
		{"an open without a window", func(uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(11, TypeStreamOpen, "/chat/hold", nil, nil)}
		}, "without a valid X-Tp-Window"},
		{"an unknown control", func(id uint64) []*socket.Packet {
			return []*socket.Packet{streamFrame(id, TypeStreamCtrl, "bogus\n", nil, nil)}
		}, "unknown stream control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := chatPair(t, &PeerConfig{StreamWindow: window}, nil)
			_, sock := rawClient(t, p.addr)
			const id = 1
			if err := sock.WritePacket(streamFrame(id, TypeStreamOpen, "/chat/stall", map[string]string{MetaStreamWindow: "4096"}, []byte("{}"))); err != nil {
				t.Fatal(err)
			}
			in := readStreamFrame(t, sock)
			if in.Ptype() != TypeStreamCtrl || in.Uri() != streamAccept {
				t.Fatalf("answer to the open: %s", in)
			}
			for _, f := range tt.frames(id) {
				if err := sock.WritePacket(f); err != nil {
					t.Fatal(err)
				}
			}
			for {
				in := readStreamFrame(t, sock)
				if in.Ptype() != TypeStreamCtrl || in.Uri() != streamClose {
					continue // credit and the like
				}
				rerr := NewRerrorFromMeta(in.Meta())
				if rerr == nil || !strings.Contains(rerr.Detail, tt.want) {
					t.Fatalf("close: %v, want one naming %q", rerr, tt.want)
				}
				break
			}
			// The session goes on: a pull on the same connection.
			pull := socket.NewPacket(socket.WithSeq(100), socket.WithPtype(TypePull), socket.WithUri("/home/test_add"), socket.WithBodyCodec('j'), socket.WithBody([2]int{1, 2}))
			if err := sock.WritePacket(pull); err != nil {
				t.Fatal(err)
			}
			for {
				in := readStreamFrame(t, sock)
				if in.Ptype() == TypeReply && in.Seq() == 100 {
					if rerr := NewRerrorFromMeta(in.Meta()); rerr != nil {
						t.Fatalf("pull after the bad frames: %v", rerr)
					}
					break
				}
			}
		})
	}
}

// TestStreamNeverCredited: a peer that never grants credit leaves Send
// waiting until the stream's context ends, or Close.
func TestStreamNeverCredited(t *testing.T) {
	for _, how := range []string{"context", "close"} {
		t.Run(how, func(t *testing.T) {
			p := chatPair(t, nil, nil)
			// The client opens a stream with the smallest window and
			// never reads it, so it grants no credit: the server's
			// Send waits once the window is spent.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, rerr := p.cliSess.OpenStream("/chat/hold", struct{}{}, socket.WithContext(ctx), WithStreamWindow(1))
			if rerr != nil {
				t.Fatal(rerr)
			}
			defer st.Close()
			// The server's side of it, found in its table.
			var srvSt *stream
			waitFor(t, "the server's stream", func() bool {
				t := p.srvSess.(*session).strm.Load()
				if t == nil {
					return false
				}
				t.mu.Lock()
				defer t.mu.Unlock()
				for _, s := range t.m {
					srvSt = s
				}
				return srvSt != nil
			})
			done := make(chan error, 1)
			go func() {
				var err error
				for err == nil {
					err = srvSt.Send(struct{}{}) // the client never reads: its window fills
				}
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("Send ended before the wait was ended: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			if how == "context" {
				cancel()
			} else {
				srvSt.Close()
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("nil")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Send still waits")
			}
		})
	}
}

func streamFrame(id uint64, ptype byte, uri string, meta map[string]string, body []byte) *socket.Packet {
	p := socket.NewPacket(socket.WithSeq(id), socket.WithPtype(ptype), socket.WithUri(uri), socket.WithBodyCodec('j'))
	for k, v := range meta {
		p.Meta().Set(k, v)
	}
	if body != nil {
		raw := socket.RawBody(body)
		p.SetBody(&raw)
	}
	return p
}

func readStreamFrame(t *testing.T, sock socket.Socket) *socket.Packet {
	t.Helper()
	in := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return new(socket.RawBody) }))
	if err := sock.ReadPacket(in); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestStreamFinishesDuringTheDrain: a stream in flight when its server
// closes goes on to its end; Peer.Close waits for its handler, and new
// opens are refused meanwhile.
func TestStreamFinishesDuringTheDrain(t *testing.T) {
	p := chatPair(t, nil, nil)
	st, rerr := p.cliSess.OpenStream("/chat/echo", "")
	if rerr != nil {
		t.Fatal(rerr)
	}
	echo := func(i int) {
		t.Helper()
		if err := st.Send(strconv.Itoa(i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var got string
		if err := st.Recv(&got); err != nil || got != strconv.Itoa(i) {
			t.Fatalf("message %d: %q, %v", i, got, err)
		}
	}
	echo(0)
	closed := make(chan error, 1)
	go func() { closed <- p.srv.Close() }()
	// The goaway reaches the client: its session drains.
	waitFor(t, "the client's session to drain", func() bool { return p.cliSess.(*session).state() == stateDraining })
	for i := 1; i <= 20; i++ {
		echo(i)
	}
	if _, rerr := p.cliSess.OpenStream("/chat/echo", ""); rerr == nil || rerr.Code != CodeConnClosed {
		t.Fatalf("a new open on the draining session: %v, want %d", rerr, CodeConnClosed)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a stream handler ran", err)
	default:
	}
	st.CloseSend()
	if err := st.Recv(new(string)); err != io.EOF {
		t.Fatalf("the end: %v, want io.EOF", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits after the stream ended")
	}
}

// TestStreamEndsOnARedial: a stream lives on its connection: when the
// connection is lost and the session redials, the stream ends with
// CodeConnClosed, and a new stream works on the new connection.
func TestStreamEndsOnARedial(t *testing.T) {
	p := chatPair(t, nil, &PeerConfig{RedialTimes: 5})
	st, rerr := p.cliSess.OpenStream("/chat/echo", "")
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer st.Close()
	old := p.cliSess.(*session).sock.Load()
	_ = old.Close() // the connection breaks under the session
	err := st.Recv(new(string))
	var got *Rerror
	if !errors.As(err, &got) || got.Code != CodeConnClosed {
		t.Fatalf("Recv across the redial: %v, want %d", err, CodeConnClosed)
	}
	waitFor(t, "the redial", func() bool {
		s := p.cliSess.(*session)
		return s.sock.Load() != old && s.state() == stateActive
	})
	st2, rerr := p.cliSess.OpenStream("/chat/echo", "2:")
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer st2.Close()
	if err := st2.Send("x"); err != nil {
		t.Fatal(err)
	}
	var msg string
	if err := st2.Recv(&msg); err != nil || msg != "2:x" {
		t.Fatalf("on the new connection: %q, %v", msg, err)
	}
}

// streamWatch is a plugin with every stream hook: it records them, adds
// metadata to opens, and refuses accepts of /chat/count with a 403.
type streamWatch struct {
	mu     sync.Mutex
	events []string
	ended  chan StreamInfo
}

func (w *streamWatch) Name() string { return "stream-watch" }
func (w *streamWatch) note(s string) {
	w.mu.Lock()
	w.events = append(w.events, s)
	w.mu.Unlock()
}
func (w *streamWatch) PreStreamOpen(info StreamInfo) *Rerror {
	info.OpenMeta().Set("trace", "t-1")
	w.note("open " + info.Uri())
	return nil
}
func (w *streamWatch) PostStreamAccept(info StreamInfo) *Rerror {
	w.note("accept " + info.Uri() + " trace=" + string(info.OpenMeta().Peek("trace")))
	if info.Uri() == "/chat/count" {
		return NewRerror(403, "Forbidden", "no counting")
	}
	return nil
}
func (w *streamWatch) StreamMsg(info StreamInfo, sent bool, size int) *Rerror {
	w.note(fmt.Sprintf("msg opened=%v sent=%v %d", info.Opened(), sent, size))
	return nil
}
func (w *streamWatch) PostStreamEnd(info StreamInfo) *Rerror {
	w.ended <- info
	return nil
}

// TestStreamHooks: the stream hooks run on each side at open, accept,
// every message and end, with the stream's counts; an accept hook's
// error refuses the stream.
func TestStreamHooks(t *testing.T) {
	srvW := &streamWatch{ended: make(chan StreamInfo, 4)}
	cliW := &streamWatch{ended: make(chan StreamInfo, 4)}
	p := newPair(t, nil, nil, func(srv, cli *Peer) {
		srv.StreamRouter.Reg(new(Chat))
		srv.PluginContainer().Add(srvW)
		cli.PluginContainer().Add(cliW)
	})
	st, rerr := p.cliSess.OpenStream("/chat/echo", "")
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err := st.Send("hi"); err != nil {
		t.Fatal(err)
	}
	if err := st.Recv(new(string)); err != nil {
		t.Fatal(err)
	}
	st.CloseSend()
	if err := st.Recv(new(string)); err != io.EOF {
		t.Fatal(err)
	}
	for _, w := range []*streamWatch{cliW, srvW} {
		info := <-w.ended
		stats := info.Stats()
		if info.Err() != nil || stats.MsgsSent != 1 || stats.MsgsRecv != 1 || stats.BytesSent != 4 || stats.BytesRecv != 4 {
			t.Fatalf("end (opened %v): %v, %+v", info.Opened(), info.Err(), stats)
		}
	}
	want := map[*streamWatch][]string{
		cliW: {"open /chat/echo", "msg opened=true sent=true 4", "msg opened=true sent=false 4"},
		srvW: {"accept /chat/echo trace=t-1", "msg opened=false sent=false 4", "msg opened=false sent=true 4"},
	}
	for w, events := range want {
		w.mu.Lock()
		got := fmt.Sprint(w.events)
		w.mu.Unlock()
		if got != fmt.Sprint(events) {
			t.Errorf("events %s, want %s", got, fmt.Sprint(events))
		}
	}
	st.Close()

	refused, rerr := p.cliSess.OpenStream("/chat/count", 1)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var got *Rerror
	if err := refused.Recv(new(int)); !errors.As(err, &got) || got.Code != 403 {
		t.Fatalf("a stream its accept hook refused: %v", err)
	}
	if info := <-cliW.ended; info.Err() == nil || info.Err().Code != 403 {
		t.Fatalf("the refused stream's end: %v", info.Err())
	}
}
