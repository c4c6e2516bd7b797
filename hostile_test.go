package tp

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/leaktest"
	"go.uber.org/goleak"
)

// The hostile-input catalog (issue 11): every row sends one hostile input
// to a live loopback server of its own, then checks that
//
//   - the process survives (a panic anywhere ends the test binary);
//   - the hostile connection gets its reply, or is closed, within the
//     row's bound (checked by the row);
//   - a well-behaved session on the same server is answered all along (a
//     probe pulls on it every 20 ms, each pull bounded by 2 s) and after,
//     and a new session can still be dialed and answered;
//   - the heap (HeapAlloc, sampled every 2 ms) never grows more than the
//     row's bound over its level at the start of the row, or once the row
//     has built a large input (measureFromHere);
//   - no goroutine is left once the peers are closed (goleak).
//
// The rows are in hostile_rows_test.go (frames and foreign protocols) and
// hostile_load_test.go (the eight bugs of issue 11, overload, floods).

// hostileRow is one row of the catalog.
type hostileRow struct {
	name string
	// srvCfg configures the server under attack; cliCfg the well-behaved
	// client (the peer under attack in the rows where the server is the
	// hostile end).
	srvCfg, cliCfg *PeerConfig
	// bound is how long the hostile connection may wait for its reply or
	// its close.
	bound time.Duration
	// heap bounds the growth of the heap during the row.
	heap uint64
	run  func(t *testing.T, e *hostileEnv)
}

// Bounds shared by many rows.
const (
	closeBound = 2 * time.Second // a connection sending a broken frame is closed within
	replyBound = 2 * time.Second // a hostile pull that can be answered is answered within
	heapSmall  = 8 << 20         // rows that should cost next to nothing
)

// hostileEnv is the server a row attacks and the well-behaved client.
type hostileEnv struct {
	srv   *Peer
	addr  string
	cli   *Peer   // the well-behaved client's peer
	good  Session // its session to srv
	hold  *holdState
	bound time.Duration
	probe *prober
	heap  *heapWatch

	// mu guards the fields below.
	mu      sync.Mutex
	closers []func()
	// srvClosed is set by rows that close the server themselves.
	srvClosed bool
}

func TestHostile(t *testing.T) {
	rows := slices.Concat(frameRows, foreignRows, eightRows, overloadRows, loadRows)
	if len(rows) < 40 {
		t.Fatalf("the catalog has %d rows, issue 11 asks for at least 40", len(rows))
	}
	names := map[string]bool{}
	for _, row := range rows {
		if names[row.name] {
			t.Fatalf("two rows named %q", row.name)
		}
		names[row.name] = true
		if row.bound == 0 || row.heap == 0 {
			t.Fatalf("row %q does not state its bounds", row.name)
		}
	}
	start := time.Now()
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) { runHostileRow(t, row) })
	}
	t.Logf("%d rows in %v", len(rows), time.Since(start).Round(time.Millisecond))
}

func runHostileRow(t *testing.T, row hostileRow) {
	// Cleanups run last first: the leak check after everything closed.
	t.Cleanup(func() { goleak.VerifyNone(t, leaktest.Options()...) })
	e := newHostileEnv(t, row)
	heap := watchHeap()
	e.heap = heap
	t.Cleanup(func() { heap.growth() })
	row.run(t, e)
	grown := heap.growth()
	t.Logf("heap grew by %s (bound %s)", mib(grown), mib(row.heap))
	if grown > row.heap {
		t.Errorf("the heap grew by %s, more than the row's bound of %s", mib(grown), mib(row.heap))
	}
	e.mu.Lock()
	srvClosed := e.srvClosed
	e.mu.Unlock()
	if !srvClosed {
		e.checkHealthy(t)
	}
}

func newHostileEnv(t *testing.T, row hostileRow) *hostileEnv {
	t.Helper()
	e := &hostileEnv{hold: newHoldState(), bound: row.bound}
	e.srv = NewPeer(row.srvCfg, &holdPlugin{hold: e.hold})
	e.srv.PullRouter.Reg(new(Home))
	e.srv.PullRouter.Reg(new(Hold))
	e.srv.PushRouter.Reg(new(Sink))
	lis := listenLoopback(t)
	e.addr = lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(lis) }()
	e.cli = NewPeer(row.cliCfg)
	e.cli.PullRouter.Reg(new(Home))
	t.Cleanup(func() {
		if e.probe != nil {
			e.probe.end()
		}
		e.hold.release()
		e.mu.Lock()
		closers := e.closers
		e.mu.Unlock()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		closePeerWithin(t, e.cli, 5*time.Second)
		if closePeerWithin(t, e.srv, 5*time.Second) {
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	var rerr *Rerror
	if e.good, rerr = e.cli.Dial(e.addr); rerr != nil {
		t.Fatalf("the well-behaved client cannot dial: %v", rerr)
	}
	var sum int
	if rerr := pullWithin(e.good, 2*time.Second, "/home/test_add", [2]int{1, 2}, &sum); rerr != nil || sum != 3 {
		t.Fatalf("the well-behaved client before the row: %d, %v", sum, rerr)
	}
	e.probe = startProbe(e.good)
	return e
}

// onEnd registers f to run when the row ends, before the peers close.
func (e *hostileEnv) onEnd(f func()) {
	e.mu.Lock()
	e.closers = append(e.closers, f)
	e.mu.Unlock()
}

// dial opens a raw connection to the server, closed when the row ends.
func (e *hostileEnv) dial(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	e.onEnd(func() { c.Close() })
	return newRawConn(c)
}

// measureFromHere starts the heap measurement again, for a row that built
// a large input first: the input is the test's memory, not the server's.
func (e *hostileEnv) measureFromHere() { e.heap.rebase() }

// serverClosing stops the probe and the final health check, for a row
// that closes the server itself.
func (e *hostileEnv) serverClosing() {
	e.probe.end()
	e.mu.Lock()
	e.srvClosed = true
	e.mu.Unlock()
}

// checkHealthy checks that the probe never failed, that the well-behaved
// session still answers, and that a new one can be dialed and answered.
func (e *hostileEnv) checkHealthy(t *testing.T) {
	t.Helper()
	n, slowest, err := e.probe.end()
	t.Logf("probe: %d pulls, the slowest %v", n, slowest.Round(time.Millisecond))
	if err != nil {
		t.Errorf("the well-behaved session failed during the row: %v", err)
	}
	var sum int
	if rerr := pullWithin(e.good, 2*time.Second, "/home/test_add", [2]int{40, 2}, &sum); rerr != nil || sum != 42 {
		t.Errorf("the well-behaved session after the row: %d, %v", sum, rerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sess, rerr := e.cli.DialContext(ctx, e.addr)
	if rerr != nil {
		t.Errorf("a new session after the row: %v", rerr)
		return
	}
	defer sess.Close()
	if rerr := pullWithin(sess, 2*time.Second, "/home/test_add", [2]int{2, 2}, &sum); rerr != nil || sum != 4 {
		t.Errorf("a new session after the row: %d, %v", sum, rerr)
	}
}

// prober pulls on a session every 20 ms until ended, and remembers the
// first failure and the slowest pull.
type prober struct {
	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once

	// Owned by the probe's goroutine until done is closed.
	n       int
	slowest time.Duration
	err     error
}

func startProbe(sess Session) *prober {
	p := &prober{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			start := time.Now()
			var sum int
			rerr := pullWithin(sess, 2*time.Second, "/home/test_add", [2]int{i, 1}, &sum)
			p.slowest = max(p.slowest, time.Since(start))
			p.n++
			if p.err == nil && (rerr != nil || sum != i+1) {
				p.err = fmt.Errorf("probe %d after %v: %d, %v", i, time.Since(start).Round(time.Millisecond), sum, rerr)
			}
			select {
			case <-p.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// end stops the probe and returns its record.
func (p *prober) end() (int, time.Duration, error) {
	p.once.Do(func() { close(p.stopCh) })
	<-p.done
	return p.n, p.slowest, p.err
}

// heapWatch samples HeapAlloc until growth is called.
type heapWatch struct {
	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once

	// mu guards the fields below.
	mu         sync.Mutex
	base, peak uint64
}

func watchHeap() *heapWatch {
	w := &heapWatch{stopCh: make(chan struct{}), done: make(chan struct{})}
	w.rebase()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			w.mu.Lock()
			w.peak = max(w.peak, ms.HeapAlloc)
			w.mu.Unlock()
			select {
			case <-w.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// rebase collects the garbage and starts measuring from the heap left.
func (w *heapWatch) rebase() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.mu.Lock()
	w.base, w.peak = ms.HeapAlloc, ms.HeapAlloc
	w.mu.Unlock()
}

// growth stops the sampling and returns the peak over the base.
func (w *heapWatch) growth() uint64 {
	w.once.Do(func() { close(w.stopCh) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak - w.base
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
