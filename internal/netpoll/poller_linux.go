//go:build linux

package netpoll

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// Poller waits for the connections of its armed Watches on one goroutine,
// started by New and ended by Close.
type Poller struct {
	epfd  int
	wakeR int // the read end of a pipe whose write end Close writes to
	wakeW int

	mu      sync.Mutex
	watches []*Watch // by slot; nil: free
	gens    []int32  // by slot: bumped each time a watch in it is armed
	free    []int32
	closed  bool
	done    chan struct{}

	swept time.Time // the last sweep (see sweep)
	fires []func()  // sweep's scratch
}

// Watch is one connection's registration with a Poller. Its zero value is
// ready to use; it belongs to one Poller from its first Arm on. Arm and
// Forget must not run concurrently for one Watch.
type Watch struct {
	rc    syscall.RawConn
	fire  func()
	slot  int32 // index in watches plus one; 0: none taken
	gen   int32
	added bool // registered with the epoll instance: Arm re-arms it
	armed bool // armed and not fired yet; guarded by the poller's mu

	// Arm's epoll_ctl, its event and its error, kept here so that a
	// re-arm allocates nothing.
	ctl    func(fd uintptr)
	ev     syscall.EpollEvent
	ctlErr error
}

// wakeSlot marks the event of the wake pipe.
const wakeSlot = -1

// New starts a poller.
func New() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeSlot}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, err
	}
	p := &Poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], done: make(chan struct{})}
	go p.run()
	return p, nil
}

// Arm calls fire once, on the poller's goroutine, when the connection of
// rc has bytes to read, has been closed by its peer or has failed. fire
// must not block: it hands the reading to another goroutine. A Watch that
// fired is armed again with another call; rc must be the same connection
// each time. Arm returns ErrClosed when the poller or the connection is
// closed, and then fire is not called.
func (p *Poller) Arm(w *Watch, rc syscall.RawConn, fire func()) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if w.slot == 0 {
		p.take(w)
	}
	// A new generation per arm: an event of an earlier arm, delivered
	// late, does not fire this one.
	p.gens[w.slot-1]++
	w.gen = p.gens[w.slot-1]
	w.rc, w.fire = rc, fire
	w.armed = true
	p.mu.Unlock()

	w.ev = syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     w.slot,
		Pad:    w.gen,
	}
	if w.ctl == nil {
		// Made once per Watch: a re-arm allocates nothing.
		w.ctl = func(fd uintptr) {
			op := syscall.EPOLL_CTL_MOD
			if !w.added {
				op = syscall.EPOLL_CTL_ADD
			}
			w.ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &w.ev)
			if w.ctlErr == syscall.ENOENT && op == syscall.EPOLL_CTL_MOD {
				w.ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &w.ev)
			}
		}
	}
	// Control holds the descriptor open: it cannot be closed, and its
	// number given to another connection, while it is registered here.
	err := rc.Control(w.ctl)
	ctlErr := w.ctlErr
	if err == nil && ctlErr == nil {
		w.added = true
		return nil
	}
	p.mu.Lock()
	w.armed = false
	p.mu.Unlock()
	if err != nil {
		return ErrClosed
	}
	return ctlErr
}

// take gives w a free slot; p.mu is held.
func (p *Poller) take(w *Watch) {
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		p.watches = append(p.watches, nil)
		p.gens = append(p.gens, 0)
		slot = int32(len(p.watches))
	}
	p.watches[slot-1] = w
	w.slot = slot
}

// Forget ends w's registration; it must not be armed (it fired, or Arm
// failed). The Watch may be armed again later, on this poller.
func (p *Poller) Forget(w *Watch) {
	if w.slot == 0 {
		return
	}
	if w.added {
		// The connection may be closed already; its registration then
		// went with it.
		_ = w.rc.Control(func(fd uintptr) {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
		w.added = false
	}
	p.mu.Lock()
	p.watches[w.slot-1] = nil
	p.free = append(p.free, w.slot)
	w.slot, w.gen, w.fire, w.armed = 0, 0, nil, false
	p.mu.Unlock()
}

// Close ends the poller's goroutine and releases its descriptors. Watches
// still armed never fire; their connections are then the caller's to
// close.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	_, _ = syscall.Write(p.wakeW, []byte{0})
	<-p.done
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
	return syscall.Close(p.epfd)
}

// run waits for events and fires their watches until Close.
func (p *Poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	p.swept = time.Now()
	for {
		n, err := syscall.EpollWait(p.epfd, events, int(sweepEvery/time.Millisecond))
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return // EBADF or EINVAL: nothing more can be waited for
		}
		if time.Since(p.swept) >= sweepEvery {
			p.sweep()
		}
		for i := range events[:n] {
			if events[i].Fd == wakeSlot {
				return
			}
			if fire := p.firing(events[i].Fd, events[i].Pad); fire != nil {
				fire()
			}
		}
	}
}

// sweepEvery is how often the poller looks for armed connections closed
// under it: closing a descriptor drops it from the epoll set without an
// event, so one closed by its owner rather than through the caller of Arm
// would otherwise never fire.
const sweepEvery = time.Second

// sweep fires every armed watch whose connection is closed.
func (p *Poller) sweep() {
	p.mu.Lock()
	for _, w := range p.watches {
		if w != nil && w.armed && w.rc.Control(nopControl) != nil {
			w.armed = false
			p.fires = append(p.fires, w.fire)
		}
	}
	fires := p.fires
	p.mu.Unlock()
	for i, fire := range fires {
		fire()
		fires[i] = nil
	}
	p.fires = fires[:0]
	p.swept = time.Now()
}

func nopControl(uintptr) {}

// firing returns the callback of the watch an event names, or nil when
// the event is stale: its slot was forgotten, or taken again since.
func (p *Poller) firing(slot, gen int32) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot < 1 || int(slot) > len(p.watches) {
		return nil
	}
	w := p.watches[slot-1]
	if w == nil || w.gen != gen || !w.armed {
		return nil
	}
	w.armed = false
	return w.fire
}
