package tp

import (
	"bufio"
	"context"
	"github.com/teleport-go/teleport/socket"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// readingGoroutines counts the goroutines that wait for a session's next
// frame on a goroutine of their own (readLoop).
func readingGoroutines() int {
	return strings.Count(string(allStacks()), ").readLoop(")
}

// allStacks returns the stacks of every goroutine.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestIdleSessionsWaitInThePoller: idle sessions on TCP and unix
// connections wait without a goroutine each, on both sides, and still
// read everything that comes to them: pulls, pushes and the end of the
// connection.
func TestIdleSessionsWaitInThePoller(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	const sessions = 40
	for _, tt := range []struct {
		network string
		addr    func(t *testing.T) string
	}{
		{"tcp", func(*testing.T) string { return "127.0.0.1:0" }},
		{"unix", func(t *testing.T) string { return filepath.Join(t.TempDir(), "park.sock") }},
	} {
		t.Run(tt.network, func(t *testing.T) {
			watch := &acceptWatch{ch: make(chan PreSession, sessions)}
			srv := NewPeer(&PeerConfig{Network: tt.network, ListenAddrs: []string{tt.addr(t)}}, watch)
			cli := NewPeer(&PeerConfig{Network: tt.network})
			regHome(srv, cli)
			listened := make(chan error, 1)
			go func() { listened <- srv.Listen() }()
			defer func() {
				cli.Close()
				srv.Close()
				<-listened
			}()
			waitFor(t, "the listener", func() bool { return len(srv.Addrs()) == 1 })
			addr := srv.Addrs()[0].String()

			var cliSess, srvSess []Session
			for range sessions {
				sess, rerr := cli.Dial(addr)
				if rerr != nil {
					t.Fatal(rerr)
				}
				cliSess = append(cliSess, sess)
				srvSess = append(srvSess, (<-watch.ch).(Session))
			}
			pullAll := func(round int) {
				t.Helper()
				for i := range sessions {
					var sum int
					if rerr := cliSess[i].Pull("/home/test_add", &[2]int{i, round}, &sum).Rerror(); rerr != nil || sum != i+round {
						t.Fatalf("round %d: client pull %d = %d, %v", round, i, sum, rerr)
					}
					if rerr := srvSess[i].Pull("/home/test_add", &[2]int{round, i}, &sum).Rerror(); rerr != nil || sum != i+round {
						t.Fatalf("round %d: server pull %d = %d, %v", round, i, sum, rerr)
					}
				}
			}
			for round := range 3 {
				pullAll(round)
				// Once their readers have lingered, no session of either
				// side keeps a goroutine waiting for it.
				waitFor(t, "the sessions to park", func() bool { return readingGoroutines() == 0 })
			}
			// A push to a parked session wakes it.
			for i := range sessions {
				if rerr := srvSess[i].Push("/note/say", "parked"); rerr != nil {
					t.Fatal(rerr)
				}
				if got := <-notes; got != "/note/say parked" {
					t.Fatalf("push handler got %q", got)
				}
			}
			// The end of a parked session's connection is noticed, from
			// either side.
			for i := range sessions {
				if i%2 == 0 {
					cliSess[i].Close()
					waitFor(t, "the server to see the close", func() bool { return srvSess[i].(*session).closed.Load() })
				} else {
					srvSess[i].Close()
					waitFor(t, "the client to see the close", func() bool { return cliSess[i].(*session).closed.Load() })
				}
			}
		})
	}
}

// TestReadTimeoutOfAParkedSession: a session with a read timeout parks
// too, and its timer keeps the timeout: traffic within it keeps the
// session, silence for longer closes it.
func TestReadTimeoutOfAParkedSession(t *testing.T) {
	const timeout = 300 * time.Millisecond
	p := newPair(t, &PeerConfig{DefaultReadTimeout: timeout}, nil, regHome)
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	if runtime.GOOS == "linux" {
		waitFor(t, "the sessions to park", func() bool { return readingGoroutines() == 0 })
	}
	// Pulls 100 ms apart, for three timeouts: each one parks and wakes
	// the server's session, and resets its timer.
	start := time.Now()
	tick := time.NewTicker(timeout / 3)
	defer tick.Stop()
	for time.Since(start) < 3*timeout {
		<-tick.C
		if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
			t.Fatalf("pull after %v: %v", time.Since(start), rerr)
		}
	}
	silent := time.Now()
	waitFor(t, "the read timeout to close the session", func() bool { return p.srvSess.(*session).closed.Load() })
	if d := time.Since(silent); d < timeout-timeout/10 {
		t.Fatalf("closed %v after the last pull, before the %v timeout", d, timeout)
	}
}

// TestReadTimeoutSetOnAParkedSession: a read timeout set while the session
// is parked applies from its next frame on.
func TestReadTimeoutSetOnAParkedSession(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	waitFor(t, "the sessions to park", func() bool { return readingGoroutines() == 0 || runtime.GOOS != "linux" })
	p.srvSess.SetReadTimeout(300 * time.Millisecond)
	var sum int
	if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "the read timeout to close the session", func() bool { return p.srvSess.(*session).closed.Load() })
}

// TestParkRacesClose: sessions park and wake while both sides close them
// at random moments; every pull ends, and both peers close with no session
// or goroutine left behind (goleak checks the latter in TestMain).
func TestParkRacesClose(t *testing.T) {
	const sessions = 30
	watch := &acceptWatch{ch: make(chan PreSession, sessions)}
	srv := NewPeer(nil, watch)
	cli := NewPeer(nil)
	regHome(srv, cli)
	lis := listenLoopback(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	var wg sync.WaitGroup
	for i := range sessions {
		sess, rerr := cli.Dial(lis.Addr().String())
		if rerr != nil {
			t.Fatal(rerr)
		}
		peerSess := (<-watch.ch).(Session)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				var sum int
				cmd := sess.Pull("/home/test_add", &[2]int{i, j}, &sum)
				if rerr := cmd.Rerror(); rerr != nil {
					if rerr.Code != CodeConnClosed && rerr.Code != CodeWriteFailed {
						t.Errorf("pull: %v", rerr)
					}
					return
				}
				if j == i%20 {
					// Close from one side or the other, while the
					// session may be parked, waking or reading.
					if i%2 == 0 {
						go sess.Close()
					} else {
						go peerSess.Close()
					}
				}
				if j%5 == 0 {
					waitParked(sess)
				}
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		cli.Close()
		srv.Close()
		<-served
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the peers did not close")
	}
	if n := srv.CountSession() + cli.CountSession(); n != 0 {
		t.Fatalf("%d sessions left after Close", n)
	}
}

// waitParked waits, for 2 s at most, until sess's connection is parked in
// the poller or the session is closed (elsewhere than on Linux, not at
// all).
func waitParked(sess Session) {
	if runtime.GOOS != "linux" {
		return
	}
	s := sess.(*session)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if s.closed.Load() || s.sock.Load().parkState.Load() == readParked {
			return
		}
	}
}

// TestParkedSessionSeesItsConnClosedUnderIt: the connection of a parked
// session is closed by its owner (the conn given to ServeConn), not through
// the session. A goroutine blocked in Read saw that at once; a session
// parked in the poller must see it too, rather than stay open forever
// (closing an fd drops it from epoll without any event).
func TestParkedSessionSeesItsConnClosedUnderIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	srv := NewPeer(nil)
	cli := NewPeer(nil)
	regHome(srv, cli)
	lis := listenLoopback(t)
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cliSess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		t.Fatal(rerr)
	}
	conn := <-accepted
	if conn == nil {
		t.Fatal("accept failed")
	}
	srvSess, err := srv.ServeConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		done := make(chan struct{})
		go func() { cli.Close(); srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the peers did not close")
		}
	}()
	var sum int
	if rerr := cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	s := srvSess.(*session)
	waitFor(t, "the server session to park", func() bool { return s.sock.Load().parkState.Load() == readParked })

	conn.Close() // by its owner, not by the session

	waitFor(t, "the server session to see its connection closed", func() bool { return s.closed.Load() })
}

// TestReadTimeoutRemovedWhileParked: a session parks with a read timeout,
// which is then removed (SetReadTimeout(0)); the timer of that earlier
// wait must not close the session once it parks again without one.
func TestReadTimeoutRemovedWhileParked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	p := newPair(t, nil, nil, regHome)
	s := p.srvSess.(*session)
	parked := func() bool { return s.sock.Load().parkState.Load() == readParked }
	var sum int
	p.srvSess.SetReadTimeout(400 * time.Millisecond)
	if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "the server session to park with its timeout", parked)
	p.srvSess.SetReadTimeout(0)
	start := time.Now()
	if rerr := p.cliSess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	waitFor(t, "the server session to park without a timeout", parked)
	// Well past the deadline of the earlier wait.
	waitFor(t, "a second", func() bool { return time.Since(start) > time.Second || s.closed.Load() })
	if s.closed.Load() {
		t.Fatal("a read timeout removed before the session parked closed it")
	}
}

// bufferingProto is the fast protocol read through a bufio.Reader of its
// own, as custom protocols often are: it can hold whole frames the socket
// has handed it.
type bufferingProto struct {
	socket.Proto
	r *bufio.Reader
}

// tellingProto is a bufferingProto that says how much it holds.
type tellingProto struct{ bufferingProto }

func (t *tellingProto) Buffered() int { return t.r.Buffered() }

func newBufferingProto(rw io.ReadWriter) *bufferingProto {
	r := bufio.NewReader(rw)
	return &bufferingProto{Proto: socket.NewFastProtoFunc(struct {
		io.Reader
		io.Writer
	}{r, rw}), r: r}
}

// A frame held inside a Proto's own buffer is unpacked at once, not left
// until more bytes arrive: concurrent pulls, whose frames arrive together,
// all end, whether the Proto tells what it holds (BufferedProto) or not.
func TestProtoBufferedFramesAreRead(t *testing.T) {
	tests := []struct {
		name  string
		proto socket.ProtoFunc
	}{
		{"BufferedProto", func(rw io.ReadWriter) socket.Proto { return &tellingProto{*newBufferingProto(rw)} }},
		{"opaque", func(rw io.ReadWriter) socket.Proto { return newBufferingProto(rw) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewPeer(nil)
			srv.PullRouter.Reg(new(Home))
			lis := listenLoopback(t)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(lis, tt.proto) }()
			defer func() { srv.Close(); <-served }()
			cli := NewPeer(nil)
			defer cli.Close()
			sess, rerr := cli.Dial(lis.Addr().String(), tt.proto)
			if rerr != nil {
				t.Fatal(rerr)
			}
			for round := range 5 {
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
						defer cancel()
						var sum int
						if rerr := sess.Pull("/home/test_add", [2]int{i, round}, &sum, socket.WithContext(ctx)).Rerror(); rerr != nil || sum != i+round {
							t.Errorf("round %d, pull %d: %d, %v", round, i, sum, rerr)
						}
					}()
				}
				wg.Wait()
				if t.Failed() {
					return
				}
			}
		})
	}
}

// The reader's linger follows the connection's rhythm: lingerGaps times
// its average gap between batches up to maxLinger, minLinger without a
// rhythm or when the batches come more than maxLinger / 2 apart.
func TestLingerFollowsTheRhythm(t *testing.T) {
	tests := []struct {
		name string
		gaps []time.Duration
		want time.Duration
	}{
		{"no batch yet", nil, minLinger},
		{"one batch", []time.Duration{0}, minLinger},
		{"a call every 50 ms", []time.Duration{0, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}, 150 * time.Millisecond},
		{"a call every millisecond", []time.Duration{0, time.Millisecond, time.Millisecond}, minLinger},
		{"a call every 500 ms", []time.Duration{0, 500 * time.Millisecond, 500 * time.Millisecond}, 1500 * time.Millisecond},
		{"a call every 900 ms", []time.Duration{0, 900 * time.Millisecond, 900 * time.Millisecond}, maxLinger},
		{"a call every 1.5 s", []time.Duration{0, 1500 * time.Millisecond, 1500 * time.Millisecond}, minLinger},
		{"a call every 2 s", []time.Duration{0, 2 * time.Second, 2 * time.Second}, minLinger},
		{"from 2 s to 50 ms gaps", append([]time.Duration{0, 2 * time.Second}, slices.Repeat([]time.Duration{50 * time.Millisecond}, 20)...), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sockRef
			now := int64(time.Hour) // a fake clock, fed through lastBatch
			for _, gap := range tt.gaps {
				now += int64(gap)
				s.noteBatchAt(now)
			}
			got := s.lingerFor()
			if tt.want == 0 {
				// Converging: 20 gaps later, back near 150 ms.
				if got < 140*time.Millisecond || got > 175*time.Millisecond {
					t.Fatalf("lingerFor = %v after the gaps shrank, want it near 150ms", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("lingerFor = %v, want %v", got, tt.want)
			}
		})
	}
}
