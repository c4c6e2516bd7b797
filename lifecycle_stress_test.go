package tp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/faultnet"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/socket"
	"go.uber.org/goleak"
)

// The lifecycle stress test runs client and server peers for a bounded
// time under random events (goaways, graceful closes and restarts on the
// same address, killed and paused connections, Session.Close and
// Peer.Close, balancer instances joining and leaving, slow PostDial hooks)
// and random traffic (pulls with and without deadlines, nested pulls back
// to the caller, pushes, cancelled pulls), and checks as it goes that
//
//   - every pull ends exactly once, with a reply or a documented code;
//   - no pull outlives its deadline by more than stressLate;
//   - Session.Close returns at once and Peer.Close within its bound;
//
// and at the end that no connection is left open, no goroutine is left
// (goleak) and the heap is back near where it began.
//
// TP_STRESS_SEED fixes the seed (it is printed either way: the seed fixes
// the sequence of events and calls; the scheduling is the machine's), and
// TP_STRESS_DURATION the running time (default 25 s, 5 s with -short; the
// long mode of the closing note is TP_STRESS_DURATION=30m).

const (
	// stressLate is how far past its deadline a pull may end: the race
	// detector and a loaded 2-core machine delay goroutines that much.
	stressLate = time.Second
	// stressNoDeadline bounds a pull sent without a deadline: the events
	// (pauses of at most 400 ms, restarts, redials) all end well within.
	stressNoDeadline = 20 * time.Second
	// stressPeerClose bounds Peer.Close: DefaultCloseDrain, the peers'
	// CloseTimeout (300 ms), the second for blocked writes, and slack.
	stressPeerClose = DefaultCloseDrain + 300*time.Millisecond + 3*time.Second
)

// Stress is the controller of the stress test's peers, on both sides.
type Stress struct{ PullCtx }

// Echo answers with its argument.
func (s *Stress) Echo(n *int) (int, *Rerror) { return *n, nil }

// Sleep waits n milliseconds, or until its context ends.
func (s *Stress) Sleep(n *int) (int, *Rerror) {
	t := time.NewTimer(time.Duration(*n) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return *n, nil
	case <-s.Context().Done():
		return 0, NewRerror(CodeHandleTimeout, "Handle Timeout", s.Context().Err().Error())
	}
}

// Nest pulls /stress/echo back on the caller's session.
func (s *Stress) Nest(n *int) (int, *Rerror) {
	var got int
	if rerr := s.Session().Pull("/stress/echo", *n, &got, socket.WithContext(s.Context())).Rerror(); rerr != nil {
		return 0, rerr
	}
	return got, nil
}

// StressNote takes pushes.
type StressNote struct{ PushCtx }

// Note counts nothing: the push only has to arrive or not.
func (s *StressNote) Note(*int) {}

// stressPostDial delays PostDial while slow is set.
type stressPostDial struct {
	slow atomic.Bool
	rng  func(n int) int
}

func (d *stressPostDial) Name() string { return "stress-post-dial" }
func (d *stressPostDial) PostDial(PreSession) *Rerror {
	if d.slow.Load() {
		<-time.After(time.Duration(d.rng(600)) * time.Millisecond)
	}
	return nil
}

// stressServer is a server peer that can be stopped and started again on
// the same address, crashed, or paused.
type stressServer struct {
	t    *testing.T
	addr string

	// mu guards the fields below.
	mu     sync.Mutex
	peer   *Peer
	raw    net.Listener
	served chan error
	conns  []*faultnet.Conn // every connection it accepted, to check and pause
}

func (s *stressServer) start() error {
	var raw net.Listener
	var err error
	for try := 0; try < 100; try++ { // the address may take a moment to be free
		if raw, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		<-time.After(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	s.addr = raw.Addr().String()
	accepted := make(chan *faultnet.Conn)
	go func() {
		for c := range accepted {
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	p := NewPeer(&PeerConfig{CloseTimeout: 300 * time.Millisecond})
	p.PullRouter.Reg(new(Stress))
	p.PushRouter.Reg(new(StressNote))
	served := make(chan error, 1)
	lis := &faultnet.Listener{Listener: raw, Accepted: accepted}
	go func() { served <- p.Serve(lis); close(accepted) }()
	s.mu.Lock()
	s.peer, s.raw, s.served = p, raw, served
	s.mu.Unlock()
	return nil
}

// stop closes the server: gracefully (a goaway, a drain) or as a crash
// (its connections cut first, no goaway reaches anyone).
func (s *stressServer) stop(crash bool) {
	s.mu.Lock()
	p, raw, served := s.peer, s.raw, s.served
	s.peer = nil
	var conns []*faultnet.Conn
	if crash {
		conns = append(conns, s.conns...)
	}
	s.mu.Unlock()
	if p == nil {
		return
	}
	if crash {
		raw.Close()
		for _, c := range conns {
			c.Close()
		}
	}
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > stressPeerClose {
		s.t.Errorf("server Peer.Close took %v, bound %v", d, stressPeerClose)
	}
	<-served
}

// pause stalls every open connection of the server for d.
func (s *stressServer) pause(d time.Duration) {
	s.mu.Lock()
	conns := append([]*faultnet.Conn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.StallReads()
		c.StallWrites()
	}
	<-time.After(d)
	for _, c := range conns {
		c.Release()
	}
}

// openConns counts the server's accepted connections not yet closed.
func (s *stressServer) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		select {
		case <-c.Closed():
		default:
			n++
		}
	}
	return n
}

// stressClient is a client peer with a session to each server.
type stressClient struct {
	peer     *Peer
	sessions []Session // nil where a dial failed
}

// stressEnv is everything the stress test runs.
type stressEnv struct {
	t       *testing.T
	dial    *stressPostDial
	servers []*stressServer

	// mu guards the fields below, and rng.
	mu       sync.Mutex
	rng      *rand.Rand
	clients  []*stressClient
	balancer *Balancer
	resolver *listResolver

	pulls, replies, failures atomic.Int64
	codes                    sync.Map // int32 -> *atomic.Int64
	events                   sync.Map // string -> *atomic.Int64
}

func (e *stressEnv) intn(n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.IntN(n)
}

func (e *stressEnv) count(m *sync.Map, key any) {
	v, _ := m.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (e *stressEnv) newClient() *stressClient {
	p := NewPeer(&PeerConfig{RedialTimes: 100, CloseTimeout: 300 * time.Millisecond, DefaultDialTimeout: time.Second}, e.dial)
	p.PullRouter.Reg(new(Stress))
	c := &stressClient{peer: p, sessions: make([]Session, len(e.servers))}
	for i, srv := range e.servers {
		if sess, rerr := p.Dial(srv.addr); rerr == nil {
			c.sessions[i] = sess
		}
	}
	return c
}

// pickTarget returns what a call goes through: a session of a client, or
// the balancer.
func (e *stressEnv) pickTarget() Puller {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rng.IntN(4) == 0 {
		return e.balancer
	}
	c := e.clients[e.rng.IntN(len(e.clients))]
	if s := c.sessions[e.rng.IntN(len(c.sessions))]; s != nil {
		return s
	}
	return e.balancer
}

// asyncPuller is what a stress call needs of its target.
type asyncPuller interface {
	AsyncPull(uri string, args interface{}, reply interface{}, done chan *PullCmd, setting ...socket.PacketSetting)
	Push(uri string, args interface{}, setting ...socket.PacketSetting) *Rerror
}

// stressCodes are the codes a pull may end with under these events.
var stressCodes = map[int32]bool{
	CodeConnClosed: true, CodeWriteFailed: true, CodeDialFailed: true,
	CodeHandleTimeout: true, CodeServiceUnavailable: true,
}

// traffic sends calls until stop, one at a time, checking each.
func (e *stressEnv) traffic(stop <-chan struct{}) {
	done := make(chan *PullCmd, 4)
	for {
		select {
		case <-stop:
			e.checkNoMore(done)
			return
		default:
		}
		target := e.pickTarget().(asyncPuller)
		op := e.intn(100)
		if op < 15 {
			e.count(&e.events, "push")
			_ = target.Push("/stress_note/note", op)
			continue
		}
		uri, arg := "/stress/echo", op
		var deadline time.Time
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		switch {
		case op < 50: // a pull with a deadline
			ctx, cancel = context.WithTimeout(ctx, time.Duration(50+e.intn(450))*time.Millisecond)
			if e.intn(2) == 0 {
				uri, arg = "/stress/sleep", e.intn(300)
			}
		case op < 65: // a nested pull back to the caller
			ctx, cancel = context.WithTimeout(ctx, time.Duration(100+e.intn(900))*time.Millisecond)
			uri = "/stress/nest"
			if _, ok := target.(*Balancer); ok {
				uri = "/stress/echo" // the balancer's peer serves no nested pull
			}
		case op < 80: // a pull cancelled while in flight
			ctx, cancel = context.WithCancel(ctx)
			uri, arg = "/stress/sleep", 200+e.intn(300)
			after := time.Duration(e.intn(250)) * time.Millisecond
			time.AfterFunc(after, cancel)
		default: // a pull without a deadline
			uri = "/stress/echo"
		}
		if d, ok := ctx.Deadline(); ok {
			deadline = d
		}
		reply := new(int)
		e.pulls.Add(1)
		start := time.Now()
		target.AsyncPull(uri, arg, reply, done, socket.WithContext(ctx))
		bound := stressNoDeadline
		if !deadline.IsZero() {
			bound = time.Until(deadline) + stressLate
		} else if uri == "/stress/sleep" {
			bound = 500*time.Millisecond + stressNoDeadline
		}
		select {
		case cmd := <-done:
			cancel()
			e.checkPull(cmd, reply, uri, start, deadline)
		case <-time.After(bound):
			cancel()
			e.t.Errorf("a pull of %s (deadline %v) has not ended %v after it began", uri, !deadline.IsZero(), time.Since(start))
			<-done // it must end still, for the next check to hold
		}
	}
}

// checkPull checks one ended pull.
func (e *stressEnv) checkPull(cmd *PullCmd, reply *int, uri string, start, deadline time.Time) {
	if cmd.reply != reply {
		e.t.Errorf("a pull of %s was delivered twice, or another's was delivered in its place", cmd.output.Uri())
		return
	}
	if !deadline.IsZero() {
		if late := time.Since(deadline); late > stressLate {
			e.t.Errorf("a pull of %s ended %v past its deadline", uri, late)
		}
	}
	rerr := cmd.Rerror()
	if rerr == nil {
		e.replies.Add(1)
		return
	}
	e.failures.Add(1)
	e.count(&e.codes, rerr.Code)
	if !stressCodes[rerr.Code] {
		e.t.Errorf("a pull of %s ended with %v, not a documented code", uri, rerr)
	}
}

// checkNoMore checks that no pull of this worker is delivered a second
// time, after its last one ended.
func (e *stressEnv) checkNoMore(done chan *PullCmd) {
	select {
	case cmd := <-done:
		e.t.Errorf("a pull of %s was delivered after the one it answered", cmd.output.Uri())
	case <-time.After(50 * time.Millisecond):
	}
}

// event applies one random event.
func (e *stressEnv) event() {
	srv := e.servers[e.intn(len(e.servers))]
	switch k := e.intn(100); {
	case k < 15:
		e.count(&e.events, "graceful restart")
		srv.stop(false)
		<-time.After(time.Duration(e.intn(300)) * time.Millisecond)
		if err := srv.start(); err != nil {
			e.t.Errorf("restart on %s: %v", srv.addr, err)
		}
	case k < 27:
		e.count(&e.events, "crash and restart")
		srv.stop(true)
		<-time.After(time.Duration(e.intn(300)) * time.Millisecond)
		if err := srv.start(); err != nil {
			e.t.Errorf("restart on %s: %v", srv.addr, err)
		}
	case k < 42:
		e.count(&e.events, "pause")
		srv.pause(time.Duration(50+e.intn(350)) * time.Millisecond)
	case k < 55:
		e.count(&e.events, "killed connection")
		pick := e.intn(1 << 20)
		srv.mu.Lock()
		var c *faultnet.Conn
		if len(srv.conns) > 0 {
			c = srv.conns[pick%len(srv.conns)]
		}
		srv.mu.Unlock()
		if c != nil {
			c.Close()
		}
	case k < 70:
		e.count(&e.events, "Session.Close")
		e.mu.Lock()
		c := e.clients[e.rng.IntN(len(e.clients))]
		i := e.rng.IntN(len(c.sessions))
		s := c.sessions[i]
		e.mu.Unlock()
		if s != nil {
			start := time.Now()
			s.Close()
			if d := time.Since(start); d > 200*time.Millisecond {
				e.t.Errorf("Session.Close took %v", d)
			}
		}
		next, _ := c.peer.Dial(e.servers[i].addr)
		e.mu.Lock()
		if next != nil {
			c.sessions[i] = next
		}
		e.mu.Unlock()
	case k < 78:
		e.count(&e.events, "client Peer.Close")
		fresh := e.newClient()
		e.mu.Lock()
		i := e.rng.IntN(len(e.clients))
		old := e.clients[i]
		e.clients[i] = fresh
		e.mu.Unlock()
		start := time.Now()
		old.peer.Close()
		if d := time.Since(start); d > stressPeerClose {
			e.t.Errorf("client Peer.Close took %v, bound %v", d, stressPeerClose)
		}
	case k < 90:
		e.count(&e.events, "balancer instances change")
		var list []Instance
		for _, s := range e.servers {
			if e.intn(3) > 0 {
				list = append(list, Instance{Addr: s.addr})
			}
		}
		e.resolver.set(list...)
	default:
		e.count(&e.events, "slow PostDial toggled")
		e.dial.slow.Store(!e.dial.slow.Load())
	}
}

// stressDuration returns how long the stress test runs.
func stressDuration(t *testing.T) time.Duration {
	if v := os.Getenv("TP_STRESS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TP_STRESS_DURATION: %v", err)
		}
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 25 * time.Second
}

// openFiles counts the process's open file descriptors, -1 where unknown.
func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestLifecycleStress(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TP_STRESS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("TP_STRESS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (TP_STRESS_SEED=%d reproduces the events and calls)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d", seed)
		}
	})
	duration := stressDuration(t)
	filesBefore, heapBefore := openFiles(), heapInUse()

	e := &stressEnv{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	e.dial = &stressPostDial{rng: e.intn}
	for range 2 {
		srv := &stressServer{t: t, addr: "127.0.0.1:0"}
		if err := srv.start(); err != nil {
			t.Fatal(err)
		}
		e.servers = append(e.servers, srv)
	}
	for range 2 {
		e.clients = append(e.clients, e.newClient())
	}
	var all []Instance
	for _, s := range e.servers {
		all = append(all, Instance{Addr: s.addr})
	}
	e.resolver = newListResolver(all...)
	balancerPeer := NewPeer(&PeerConfig{CloseTimeout: 300 * time.Millisecond, DefaultDialTimeout: time.Second}, e.dial)
	e.balancer = NewBalancer(balancerPeer, e.resolver, &BalancerConfig{TryTimeout: 2 * time.Second, EjectSilence: 300 * time.Millisecond, EjectMin: 200 * time.Millisecond})

	stop := make(chan struct{})
	var workers sync.WaitGroup
	for range 12 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			e.traffic(stop)
		}()
	}
	end := time.Now().Add(duration)
	for time.Now().Before(end) && !t.Failed() {
		<-time.After(time.Duration(50+e.intn(200)) * time.Millisecond)
		e.event()
	}
	close(stop)
	workers.Wait()

	e.balancer.Close()
	for _, c := range e.clients {
		start := time.Now()
		c.peer.Close()
		if d := time.Since(start); d > stressPeerClose {
			t.Errorf("client Peer.Close took %v, bound %v", d, stressPeerClose)
		}
	}
	balancerPeer.Close()
	for _, s := range e.servers {
		s.stop(false)
	}
	for _, s := range e.servers {
		if n := s.openConns(); n != 0 {
			t.Errorf("server %s: %d connections left open", s.addr, n)
		}
	}

	var events, codes []string
	e.events.Range(func(k, v any) bool {
		events = append(events, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	e.codes.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%d: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("%v: %d pulls, %d replies, %d errors %v; events %v", duration, e.pulls.Load(), e.replies.Load(), e.failures.Load(), codes, events)
	if e.replies.Load() == 0 {
		t.Error("no pull got a reply: the test tested nothing")
	}

	if err := goleak.Find(leaktest.Options()...); err != nil {
		t.Errorf("goroutines left: %v", err)
	}
	waitFor(t, "the connections' descriptors to close", func() bool {
		return filesBefore < 0 || openFiles() <= filesBefore+2
	})
	if grown := int64(heapInUse()) - int64(heapBefore); grown > 16<<20 {
		t.Errorf("the heap grew by %d MiB over the run", grown>>20)
	}
}
