package heartbeat

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	tp "github.com/teleport-go/teleport"
)

// PingUri is the URI of the ping pulls.
const PingUri = "/heartbeat/ping"

// MaxSilentIntervals is how many intervals a session may go without a
// packet read before it is closed.
const MaxSilentIntervals = 3

// Heartbeat is the plugin. One Heartbeat may serve several peers.
type Heartbeat struct {
	interval time.Duration

	// sessions maps each watched session (the value given to the hooks,
	// compared by identity, so SetId does not matter) to its *watched.
	// It is read without mu on every packet; written under mu.
	sessions sync.Map

	// mu guards the fields below.
	mu sync.Mutex
	// n is the number of entries in sessions.
	n int
	// stopCh stops the ticking goroutine; nil when none runs.
	stopCh chan struct{}

	// tickMu serialises ticks: a ticking goroutine told to stop may still
	// be finishing a tick when the next one starts.
	tickMu sync.Mutex
}

// watched is the state of one session.
type watched struct {
	sess tp.Session
	// reads counts the packets read on the session.
	reads atomic.Uint64
	// pinging is set while a ping is in flight.
	pinging atomic.Bool

	// Owned by the tick (under tickMu).
	seen    uint64 // reads at the last tick
	silent  int    // ticks in a row that found no new read
	closing bool   // Close was called
}

var (
	_ tp.PostDialPlugin            = (*Heartbeat)(nil)
	_ tp.PostAcceptPlugin          = (*Heartbeat)(nil)
	_ tp.PostReadPullHeaderPlugin  = (*Heartbeat)(nil)
	_ tp.PostReadPushHeaderPlugin  = (*Heartbeat)(nil)
	_ tp.PostReadReplyHeaderPlugin = (*Heartbeat)(nil)
	_ tp.PostDisconnectPlugin      = (*Heartbeat)(nil)
)

// New returns a heartbeat pinging every interval. An interval that is not
// positive panics.
func New(interval time.Duration) *Heartbeat {
	if interval <= 0 {
		panic(fmt.Sprintf("heartbeat: New: interval %v is not positive", interval))
	}
	return &Heartbeat{interval: interval}
}

// Name returns "heartbeat".
func (h *Heartbeat) Name() string { return "heartbeat" }

// Interval returns the ping interval.
func (h *Heartbeat) Interval() time.Duration { return h.interval }

// PostDial starts watching a dialed session; for a session moving to a new
// connection (a redial), it counts as a packet read.
func (h *Heartbeat) PostDial(sess tp.PreSession) *tp.Rerror {
	h.watch(sess)
	return nil
}

// PostAccept starts watching an accepted session.
func (h *Heartbeat) PostAccept(sess tp.PreSession) *tp.Rerror {
	h.watch(sess)
	return nil
}

// PostReadPullHeader marks the session alive, and answers a ping itself
// (with tp.CodeNotFound, like a peer without the plugin), so that it is not
// routed.
func (h *Heartbeat) PostReadPullHeader(ctx tp.ReadCtx) *tp.Rerror {
	h.alive(ctx.Session())
	if ctx.Uri() == PingUri {
		return tp.NewRerror(tp.CodeNotFound, "Not Found", "heartbeat ping")
	}
	return nil
}

// PostReadPushHeader marks the session alive.
func (h *Heartbeat) PostReadPushHeader(ctx tp.ReadCtx) *tp.Rerror {
	h.alive(ctx.Session())
	return nil
}

// PostReadReplyHeader marks the session alive.
func (h *Heartbeat) PostReadReplyHeader(ctx tp.ReadCtx) *tp.Rerror {
	h.alive(ctx.Session())
	return nil
}

// PostDisconnect stops watching the session.
func (h *Heartbeat) PostDisconnect(sess tp.PostSession) *tp.Rerror {
	h.unwatch(sess)
	return nil
}

func (h *Heartbeat) alive(sess tp.Session) {
	if w, ok := h.sessions.Load(sess); ok {
		w.(*watched).reads.Add(1)
	}
}

// watch adds sess, starting the ticking goroutine for the first session.
func (h *Heartbeat) watch(pre tp.PreSession) {
	sess, ok := pre.(tp.Session)
	if !ok {
		return // not a session of a peer: nothing to ping with
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w, loaded := h.sessions.LoadOrStore(sess, &watched{sess: sess}); loaded {
		// PostDial again: the session moved to a new connection.
		w.(*watched).reads.Add(1)
		return
	}
	h.n++
	if h.n == 1 {
		h.stopCh = make(chan struct{})
		go h.run(h.stopCh)
	}
}

// unwatch removes sess, stopping the ticking goroutine with the last
// session. It does not wait for the goroutine, which may be the caller.
func (h *Heartbeat) unwatch(sess any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sessions.LoadAndDelete(sess); !ok {
		return
	}
	h.n--
	if h.n == 0 {
		close(h.stopCh)
		h.stopCh = nil
	}
}

// run ticks every interval until stopCh is closed.
func (h *Heartbeat) run(stopCh chan struct{}) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-stopCh:
			return
		case <-t.C:
			h.tick()
		}
	}
}

// tick closes the sessions silent for too long and pings the others.
func (h *Heartbeat) tick() {
	h.tickMu.Lock()
	defer h.tickMu.Unlock()
	h.sessions.Range(func(key, value any) bool {
		w := value.(*watched)
		if !w.sess.IsOk() {
			// Closed (and watched after its PostDisconnect, by a
			// racing PostDial), redialing, or draining before it
			// closes: not ours to ping or close. A redial that
			// succeeds runs PostDial, which watches it again.
			h.unwatch(key)
			return true
		}
		if r := w.reads.Load(); r != w.seen {
			w.seen, w.silent = r, 0
		} else {
			w.silent++
		}
		switch {
		case w.closing:
		case w.silent >= MaxSilentIntervals:
			w.closing = true
			name := w.sess.Id()
			if addr := w.sess.RemoteAddr().String(); addr != name {
				name += " (" + addr + ")"
			}
			tp.Noticef("heartbeat: closing session %s: nothing read for %d intervals of %v", name, w.silent, h.interval)
			// Close runs the PostDisconnect hooks, which may be slow:
			// not on the ticking goroutine.
			go w.sess.Close()
		case w.pinging.CompareAndSwap(false, true):
			// The pull ends with the answer, or when the session
			// closes; its write may block, so it has a goroutine.
			go func() {
				w.sess.Pull(PingUri, nil, nil)
				w.pinging.Store(false)
			}()
		}
		return true
	})
}
