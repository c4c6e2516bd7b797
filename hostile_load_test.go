package tp

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// Rows of the catalog: the eight bugs of issue 11 (each expecting the fixed
// behaviour), the overload limits of PeerConfig, and floods.

// gzipBomb returns a gzip member that inflates to mib MiB of zeros, ending
// in a sync flush as teleport v3.0 ends its streams. Compressing that many
// zeros takes seconds under the race detector; a flushed MiB of zeros
// compresses to the same bytes every time once the window is full of
// zeros, so the member is built from copies of one such block.
func gzipBomb(t *testing.T, mib int) []byte {
	t.Helper()
	var z bytes.Buffer
	z.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}) // gzip header, no name, no time
	fw, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	var blocks [3][]byte
	for i := range blocks {
		n := z.Len()
		fw.Write(zeros)
		fw.Flush()
		blocks[i] = z.Bytes()[n:]
	}
	if !bytes.Equal(blocks[1], blocks[2]) {
		t.Fatal("flushed blocks of zeros differ: gzipBomb needs another recipe")
	}
	for range mib - len(blocks) {
		z.Write(blocks[2])
	}
	// Check the recipe: the start inflates to zeros.
	zr, err := gzip.NewReader(bytes.NewReader(z.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4<<20)
	if _, err := io.ReadFull(zr, head); err != nil || !bytes.Equal(head, make([]byte, len(head))) {
		t.Fatalf("the bomb does not inflate to zeros: %v", err)
	}
	return z.Bytes()
}

// observe lets the server act on what it was sent for d while the heap is
// sampled: a window to measure in, not a synchronisation.
func observe(d time.Duration) { <-time.After(d) }

// within runs fn on a goroutine of its own and fails the test with fn's
// error, or when fn has not returned after d; fn is then left running (the
// row's cleanup must unblock it), so it must not use t.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s took more than %v", what, d)
	}
}

// replies reads frames from c until it has the replies of every seq in
// want, within d.
func replies(t *testing.T, c *rawConn, d time.Duration, want ...uint64) map[uint64]rawReply {
	t.Helper()
	got := make(map[uint64]rawReply, len(want))
	deadline := time.Now().Add(d)
	for _, seq := range want {
		got[seq] = c.reply(t, seq, time.Until(deadline))
	}
	return got
}

// fakeServer accepts one connection on a listener of its own and hands it
// to serve; both end with the row.
func fakeServer(t *testing.T, e *hostileEnv, serve func(c *rawConn)) string {
	t.Helper()
	lis := listenLoopback(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := lis.Accept()
		if err != nil {
			return
		}
		e.onEnd(func() { c.Close() })
		serve(newRawConn(c))
	}()
	e.onEnd(func() {
		lis.Close()
		wg.Wait()
	})
	return lis.Addr().String()
}

// badReplyRow is a row whose hostile server answers a pull of the peer
// under test with an undecodable reply: the pull must end at once.
func badReplyRow(name string, codec byte, body string) hostileRow {
	return hostileRow{
		name: name, bound: time.Second, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			addr := fakeServer(t, e, func(c *rawConn) {
				in, err := c.next(5 * time.Second)
				if err != nil {
					return
				}
				p := rawPayload{seq: in.seq, ptype: TypeReply, uri: in.uri, codec: codec, body: []byte(body)}
				_ = c.send(rawFrame{payload: p.bytes()}.bytes())
			})
			sess, rerr := e.cli.Dial(addr)
			if rerr != nil {
				t.Fatal(rerr)
			}
			done := make(chan *PullCmd, 1)
			sess.AsyncPull("/home/test_add", [2]int{1, 2}, new(int), done)
			wantCode(t, "a pull answered by an undecodable reply", awaitPull(t, done, e.bound).Rerror(), CodeBadPacket)
		},
	}
}

var eightRows = []hostileRow{
	{
		name: "item 1: 200 heads each declaring the packet size limit",
		// The heads alone: the server must not reserve memory for the
		// frames they announce (it did, 1 MiB each).
		bound: closeBound, heap: 20 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			const n = 200
			conns := make([]*rawConn, n)
			for i := range conns {
				conns[i] = e.dial(t)
				if err := conns[i].send(rawFrame{size: u32(socket.PacketSizeLimit())}.bytes()); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "every connection to be served", func() bool { return e.srv.CountSession() == n+1 })
			observe(500 * time.Millisecond)
			for _, c := range conns {
				c.Close()
			}
			waitWithin(t, e.bound, "the server to end the sessions", func() bool { return e.srv.CountSession() == 1 })
		},
	},
	{
		name: "item 2: gzip bomb under a 32 MiB limit",
		// A 250 KiB frame inflating to 250 MiB: refused once past the
		// limit, holding at most 1 MiB of output meanwhile.
		bound: 5 * time.Second, heap: 8 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			frame := rawFrame{xferIds: []byte{'g'}, payload: gzipBomb(t, 250)}.bytes()
			withPacketSizeLimit(t, 32<<20)
			c := e.dial(t)
			e.measureFromHere()
			_ = c.send(frame)
			c.closedWithin(t, e.bound)
		},
	},
	{
		name:  "item 2: nested gzip bomb under a 32 MiB limit",
		bound: 5 * time.Second, heap: 8 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			frame := rawFrame{xferIds: []byte{'g', 'g'}, payload: gzipBytes(gzipBomb(t, 64))}.bytes()
			withPacketSizeLimit(t, 32<<20)
			c := e.dial(t)
			e.measureFromHere()
			_ = c.send(frame)
			c.closedWithin(t, e.bound)
		},
	},
	{
		name: "item 3: 4 MiB of metadata a&a&a",
		// 2 Mi pairs: refused past 65 536 pairs as bad metadata. The
		// 4 MiB frame itself is read whole first.
		bound: closeBound, heap: 32 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			p := addPull(1)
			p.meta = strings.Repeat("a&", 2<<20)
			frame := rawFrame{payload: p.bytes()}.bytes()
			p.meta = ""
			c := e.dial(t)
			e.measureFromHere()
			_ = c.send(frame)
			c.closedWithin(t, e.bound)
		},
	},
	{
		name:  "metadata of 10 000 keys",
		bound: replyBound, heap: 16 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			var meta strings.Builder
			for i := range 10000 {
				if i > 0 {
					meta.WriteByte('&')
				}
				fmt.Fprintf(&meta, "key%d=value%d", i, i)
			}
			p := addPull(1)
			p.meta = meta.String()
			c := e.dial(t)
			if err := c.send(rawFrame{payload: p.bytes()}.bytes()); err != nil {
				t.Fatal(err)
			}
			if r := c.reply(t, 1, e.bound); r.code() != 0 || string(r.body) != "3" {
				t.Fatalf("reply: code %d body %q", r.code(), r.body)
			}
		},
	},
	{
		name: "item 4: half-close after 50 pulls",
		// Every reply arrives before the server closes.
		bound: 5 * time.Second, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			const n = 50
			var buf []byte
			for i := range n {
				buf = append(buf, pullFrame(uint64(i+1), "/home/test_add", fmt.Sprintf("[%d,1]", i))...)
			}
			c := e.dial(t)
			if err := c.send(buf); err != nil {
				t.Fatal(err)
			}
			c.halfClose(t)
			got := replies(t, c, e.bound, seqs(1, n)...)
			for i := range n {
				if r := got[uint64(i+1)]; r.code() != 0 || string(r.body) != strconv.Itoa(i+1) {
					t.Fatalf("reply %d: code %d body %q", i+1, r.code(), r.body)
				}
			}
			c.closedWithin(t, e.bound)
		},
	},
	{
		name:  "half-close at once",
		bound: closeBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			c.halfClose(t)
			c.closedWithin(t, e.bound)
		},
	},
	{
		name: "item 5: client write timeout under traffic",
		// The peer under test is the client (write timeout 500 ms),
		// pulling every 100 ms to a server that never reads: every pull
		// ends within the bound of its start.
		cliCfg: &PeerConfig{DefaultWriteTimeout: 500 * time.Millisecond},
		bound:  2 * time.Second, heap: 24 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			socket.SetTCPBufferSizes(16<<10, 16<<10)
			t.Cleanup(func() { socket.SetTCPBufferSizes(0, 0) })
			addr := fakeServer(t, e, func(c *rawConn) {
				if tc, ok := c.Conn.(*net.TCPConn); ok {
					tc.SetReadBuffer(4 << 10)
				}
			})
			sess, rerr := e.cli.Dial(addr)
			if rerr != nil {
				t.Fatal(rerr)
			}
			type result struct {
				took time.Duration
				rerr *Rerror
			}
			results := make(chan result, 100)
			body := make([]byte, 64<<10)
			launched := 0
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			stop := time.After(4 * time.Second)
		launch:
			for {
				launched++
				go func() {
					start := time.Now()
					rerr := sess.Pull("/home/bytes", body, nil).Rerror()
					results <- result{time.Since(start), rerr}
				}()
				select {
				case r := <-results:
					results <- r
					break launch
				case <-stop:
					break launch
				case <-tick.C:
				}
			}
			for i := range launched {
				select {
				case r := <-results:
					if r.took > e.bound {
						t.Errorf("pull %d of %d ended after %v", i+1, launched, r.took)
					}
					wantCode(t, "a pull to a server that does not read", r.rerr, CodeWriteFailed, CodeConnClosed)
				case <-time.After(3 * time.Second):
					t.Fatalf("%d of %d pulls still waiting", launched-i, launched)
				}
			}
		},
	},
	{
		name:   "item 6: Close behind a session full of handlers",
		srvCfg: &PeerConfig{MaxSessionHandlers: 4, CloseTimeout: 500 * time.Millisecond},
		// Close returns within its drain (2 s) and CloseTimeout, with
		// room for a loaded machine.
		bound: DefaultCloseDrain + 500*time.Millisecond + 1500*time.Millisecond, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			var buf []byte
			for i := range 10 {
				buf = append(buf, pullFrame(uint64(i+1), "/hold/wait", strconv.Itoa(i))...)
			}
			if err := c.send(buf); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the handlers to fill up", func() bool { return e.hold.runs.Load() >= 4 })
			e.serverClosing()
			start := time.Now()
			if !closePeerWithin(t, e.srv, e.bound) {
				return
			}
			t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
			c.closedWithin(t, time.Second)
		},
	},
	badReplyRow("item 7: reply with an unknown body codec", 0xEE, "x"),
	badReplyRow("reply with an undecodable body", 'j', `{"unterminated`),
	{
		name: "item 8: a goroutine pool of 8",
		// Five more sessions (ten read loops in this process) are all
		// answered; DialContext keeps to its context; Serve accepts.
		bound: 2 * time.Second, heap: 16 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			SetGopool(8, time.Second)
			e.onEnd(func() { SetGopool(0, 0) })
			for i := range 5 {
				within(t, 2*e.bound, fmt.Sprintf("session %d", i), func() error {
					ctx, cancel := context.WithTimeout(context.Background(), e.bound)
					defer cancel()
					sess, rerr := e.cli.DialContext(ctx, e.addr)
					if rerr != nil {
						return rerr.ToError()
					}
					var sum int
					if rerr := pullWithin(sess, e.bound, "/home/test_add", [2]int{i, 1}, &sum); rerr != nil || sum != i+1 {
						return fmt.Errorf("pull: %d, %v", sum, rerr)
					}
					return nil
				})
			}
			within(t, time.Second, "DialContext with a 300 ms context", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				e.cli.DialContext(ctx, e.addr) // fails or not: it must return
				return nil
			})
			c := e.dial(t)
			if err := c.send(pullFrame(1, "/home/test_add", "[2,3]")); err != nil {
				t.Fatal(err)
			}
			if r := c.reply(t, 1, e.bound); r.code() != 0 || string(r.body) != "5" {
				t.Fatalf("a connection accepted with the small pool: code %d body %q", r.code(), r.body)
			}
		},
	},
}

// seqs returns from, from+1, ..., from+n-1.
func seqs(from uint64, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = from + uint64(i)
	}
	return s
}

// waitWithin polls cond until it holds, failing the test after d.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s took more than %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

var overloadRows = []hostileRow{
	{
		name:   "MaxSessions: a connection past it is closed",
		srvCfg: &PeerConfig{MaxSessions: 3},
		bound:  time.Second, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			a, b := e.dial(t), e.dial(t)
			waitFor(t, "3 sessions", func() bool { return e.srv.CountSession() == 3 })
			e.dial(t).closedWithin(t, e.bound)
			stillServes(t, a, replyBound)
			stillServes(t, b, replyBound)
			a.Close()
			waitFor(t, "a slot to free up", func() bool { return e.srv.CountSession() == 2 })
			d := e.dial(t)
			stillServes(t, d, replyBound)
			b.Close()
			d.Close()
			waitFor(t, "the sessions to end", func() bool { return e.srv.CountSession() == 1 })
		},
	},
	{
		name:   "MaxSessionHandlers with RejectOverload: 503",
		srvCfg: &PeerConfig{MaxSessionHandlers: 2, RejectOverload: true},
		bound:  time.Second, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			if err := c.send(append(pullFrame(1, "/hold/wait", "1"), pullFrame(2, "/hold/wait", "2")...)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "2 handlers", func() bool { return e.hold.runs.Load() == 2 })
			if err := c.send(append(pullFrame(3, "/hold/wait", "3"), pullFrame(4, "/home/test_add", "[1,2]")...)); err != nil {
				t.Fatal(err)
			}
			got := replies(t, c, e.bound, 3, 4)
			for _, seq := range []uint64{3, 4} {
				if code := got[seq].code(); code != CodeServiceUnavailable {
					t.Fatalf("pull %d past the limit: code %d, want %d", seq, code, CodeServiceUnavailable)
				}
			}
			if n := e.hold.runs.Load(); n != 2 {
				t.Fatalf("%d handlers ran, want 2: a rejected pull ran its handler", n)
			}
			e.hold.release()
			got = replies(t, c, replyBound, 1, 2)
			for _, seq := range []uint64{1, 2} {
				if r := got[seq]; r.code() != 0 || string(r.body) != strconv.Itoa(int(seq)) {
					t.Fatalf("held pull %d: code %d body %q", seq, r.code(), r.body)
				}
			}
			stillServes(t, c, replyBound)
		},
	},
	{
		name:   "MaxSessionHandlers without RejectOverload: back-pressure",
		srvCfg: &PeerConfig{MaxSessionHandlers: 2},
		// The pull past the limit waits, unanswered and unhandled, while
		// the other sessions are served; it is answered within the bound
		// once a handler finishes.
		bound: replyBound, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			if err := c.send(append(pullFrame(1, "/hold/wait", "1"), pullFrame(2, "/hold/wait", "2")...)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "2 handlers", func() bool { return e.hold.runs.Load() == 2 })
			if err := c.send(pullFrame(3, "/hold/wait", "3")); err != nil {
				t.Fatal(err)
			}
			c.openFor(t, 300*time.Millisecond)
			if n := e.hold.runs.Load(); n != 2 {
				t.Fatalf("%d handlers running for one session, limit 2", n)
			}
			e.hold.release()
			got := replies(t, c, e.bound, 1, 2, 3)
			for seq, r := range got {
				if r.code() != 0 || string(r.body) != strconv.Itoa(int(seq)) {
					t.Fatalf("pull %d: code %d body %q", seq, r.code(), r.body)
				}
			}
		},
	},
}

var loadRows = []hostileRow{
	{
		name:   "slowloris with a read timeout",
		srvCfg: &PeerConfig{DefaultReadTimeout: 300 * time.Millisecond},
		// A frame dribbled a byte every 100 ms is closed about the
		// read timeout after it began.
		bound: 1500 * time.Millisecond, heap: heapSmall,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			stop := dribble(e, [][]byte{pullFrame(1, "/home/echo", `"`+strings.Repeat("s", 200)+`"`)}, []*rawConn{c}, 100*time.Millisecond)
			defer stop()
			c.closedWithin(t, e.bound)
		},
	},
	{
		name: "slowloris without a read timeout: 50 connections",
		// The dribbling connections stay (nothing bounds them) but cost
		// little, and the others are served; once they hang up, the
		// server ends their sessions within the bound.
		bound: closeBound, heap: 16 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			const n = 50
			conns := make([]*rawConn, n)
			frames := make([][]byte, n)
			for i := range conns {
				conns[i] = e.dial(t)
				p := rawPayload{seq: 1, ptype: TypePull, uri: "/home/bytes", codec: 's', body: make([]byte, 64<<10)}
				frames[i] = rawFrame{payload: p.bytes()}.bytes()
			}
			e.measureFromHere()
			stop := dribble(e, frames, conns, 20*time.Millisecond)
			waitFor(t, "every connection to be served", func() bool { return e.srv.CountSession() == n+1 })
			observe(time.Second)
			stop()
			for _, c := range conns {
				c.Close()
			}
			waitWithin(t, e.bound, "the server to end the sessions", func() bool { return e.srv.CountSession() == 1 })
		},
	},
	{
		name: "1000 connections opened and dropped at once",
		// All served at once, then all gone within the bound.
		bound: 5 * time.Second, heap: 32 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			const n = 1000
			conns := make([]net.Conn, n)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for w := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < n; i += 20 {
						c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
						if err != nil {
							errs <- err
							return
						}
						conns[i] = c
					}
				}()
			}
			wg.Wait()
			e.onEnd(func() {
				for _, c := range conns {
					if c != nil {
						c.Close()
					}
				}
			})
			close(errs)
			if err := <-errs; err != nil {
				t.Fatalf("dial: %v", err)
			}
			waitWithin(t, 10*time.Second, "every connection to be served", func() bool { return e.srv.CountSession() == n+1 })
			for _, c := range conns {
				c.Close()
			}
			waitWithin(t, e.bound, "the server to end the sessions", func() bool { return e.srv.CountSession() == 1 })
		},
	},
	{
		name: "2000 pulls pipelined without reading, then read",
		// Every reply arrives within the bound once read.
		bound: 10 * time.Second, heap: 16 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			const n = 2000
			c := e.dial(t)
			frames := pipelined(n)
			e.measureFromHere()
			if err := c.send(frames); err != nil {
				t.Fatal(err)
			}
			got := replies(t, c, e.bound, seqs(1, n)...)
			for seq, r := range got {
				if r.code() != 0 || string(r.body) != strconv.Itoa(int(seq)) {
					t.Fatalf("reply %d: code %d body %q", seq, r.code(), r.body)
				}
			}
			stillServes(t, c, replyBound)
		},
	},
	{
		name: "2000 pulls pipelined, then hang up",
		// The server ends the session within the bound, and drops the
		// replies nobody reads.
		bound: closeBound, heap: 16 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			c := e.dial(t)
			if err := c.send(pipelined(2000)); err != nil {
				t.Fatal(err)
			}
			c.Close()
			waitWithin(t, e.bound, "the server to end the session", func() bool { return e.srv.CountSession() == 1 })
		},
	},
	{
		name: "push flood to an unknown route",
		// 10 000 pushes dropped one by one, then a pull on the same
		// connection answered within the bound.
		bound: 5 * time.Second, heap: 16 << 20,
		run: func(t *testing.T, e *hostileEnv) {
			var buf []byte
			for i := range 10000 {
				p := rawPayload{seq: uint64(i + 1), ptype: TypePush, uri: "/no/such/route", codec: 'j', body: []byte("1")}
				buf = append(buf, rawFrame{payload: p.bytes()}.bytes()...)
			}
			c := e.dial(t)
			e.measureFromHere()
			if err := c.send(buf); err != nil {
				t.Fatal(err)
			}
			stillServes(t, c, e.bound)
		},
	},
}

// pipelined is n pulls of /home/test_add, seqs 1 to n, pull i adding i-1
// and 1.
func pipelined(n int) []byte {
	var buf []byte
	for i := range n {
		buf = append(buf, pullFrame(uint64(i+1), "/home/test_add", fmt.Sprintf("[%d,1]", i))...)
	}
	return buf
}

// dribble writes frames[i] to conns[i] a byte every interval, on its own
// goroutine, until every frame is sent or stop is called.
func dribble(e *hostileEnv, frames [][]byte, conns []*rawConn, interval time.Duration) (stop func()) {
	stopCh, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for off := 0; ; off++ {
			sent := false
			for i, c := range conns {
				if off < len(frames[i]) && c.send(frames[i][off:off+1]) == nil {
					sent = true
				}
			}
			if !sent {
				return
			}
			select {
			case <-stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(stopCh) })
		<-done
	}
	e.onEnd(stop)
	return stop
}
