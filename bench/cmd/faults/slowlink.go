//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/bench/internal/netns"
	"github.com/teleport-go/teleport/bench/pb"
)

// Tick is the slow client's push controller.
type Tick struct{ tp.PushCtx }

// ticks counts the pushes the slow client received.
var ticks atomic.Int64

// Bytes takes one push of the feed.
func (t *Tick) Bytes(*string) { ticks.Add(1) }

const (
	slowRate     = "1mbit"
	slowPushSize = 16 << 10
	slowPushers  = 4
	// slowWriteTimeout is the pushes' write timeout while the link moves:
	// much shorter than draining the write queue over it takes (32 s for
	// 4 MiB), which must not fail them.
	slowWriteTimeout = 2 * time.Second
	cutWriteTimeout  = time.Second
	streamMsgSize    = 16 << 10
	// queueBound is what one connection's writes may hold: 4 MiB queued
	// and a write of as much in progress.
	queueBound = 8 << 20
)

// slowLink has server 0 push to a client behind a 1 Mbit/s link while
// other clients pull over fast links: first pushes that must wait for the
// link, then a stream that sends as fast as its credit allows, then a push
// too big to be written within its write timeout.
func slowLink(t timings) []result {
	fail := func(err error) []result { return []result{{scenario: "slow link", problems: []string{err.Error()}}} }
	w, err := newWorld(1, "slow")
	if err != nil {
		return fail(err)
	}
	defer w.close()
	link, err := w.net.Connect("slow", "s0")
	if err != nil {
		return fail(err)
	}
	if err := link.Shape(slowRate); err != nil {
		return fail(err)
	}
	if err := w.start(0); err != nil {
		return fail(err)
	}
	slowAddr := "ns://" + w.net.NS("slow") + "/" + net.JoinHostPort(link.AddrB, serverPort)

	fast := tp.NewPeer(nil)
	defer fast.Close()
	var sessions []tp.Session
	for range workers {
		sess, rerr := fast.Dial(w.dialAddr(0))
		if rerr != nil {
			return fail(rerr.ToError())
		}
		sessions = append(sessions, sess)
	}
	ctl := sessions[0]
	serverStats := func(reset bool) (*FeedStats, error) {
		var st FeedStats
		return &st, ctl.Pull("/feed/stats", reset, &st).Rerror().ToError()
	}
	var next atomic.Uint32
	pulls := startLoad("fast", workers, t.deadline, func(ctx context.Context, req, reply *pb.BenchmarkMessage) *tp.Rerror {
		return pullOn(sessions[next.Add(1)%uint32(len(sessions))])(ctx, req, reply)
	})
	defer pulls.stop()

	slow := tp.NewPeer(nil)
	defer slow.Close()
	slow.PushRouter.Reg(new(Tick))

	time.Sleep(t.warm / 2)
	baseStart := time.Now()
	time.Sleep(t.warm)

	// Pushes that wait for the link.
	if _, err := serverStats(true); err != nil {
		return fail(err)
	}
	pushStart := time.Now()
	pushRow, err := slowPushes(t, slow, slowAddr, serverStats)
	if err != nil {
		return fail(err)
	}
	pushEnd := time.Now()

	// A stream over the link.
	streamRow, err := slowStream(t, slow, slowAddr, serverStats)
	if err != nil {
		return fail(err)
	}
	streamEnd := time.Now()

	// The link cut under pushes: the write timeout ends them.
	cutRow, err := slowCut(t, slow, slowAddr, link, serverStats)
	if err != nil {
		return fail(err)
	}

	pulls.stop()
	fastRow := result{scenario: fmt.Sprintf("slow link: %d clients pulling over fast links meanwhile", workers)}
	fastRow.calls, fastRow.failed, fastRow.why = pulls.counts()
	if fastRow.failed > 0 {
		fastRow.problem("%d pulls of the clients on fast links failed", fastRow.failed)
	}
	base, n := pulls.quantile(0.99, baseStart, pushStart)
	during, m := pulls.quantile(0.99, pushStart, streamEnd)
	fastRow.detect = fmt.Sprintf("p99 %s before, %s during", msFine(base), msFine(during))
	fastRow.note("p99 of the fast clients' pulls: %s before the slow client came (%d pulls), %s while it was pushed to and streamed to (%d pulls)", msFine(base), n, msFine(during), m)
	if during > 2*base+5*time.Millisecond {
		fastRow.problem("the fast clients' p99 went from %s to %s", base, during)
	}
	_ = pushEnd
	mem := w.memory()
	rows := []result{pushRow, streamRow, cutRow, fastRow}
	for i := range rows {
		if rows[i].memory == "" {
			rows[i].memory = mem
		} else {
			rows[i].memory += "; " + mem
		}
	}
	return rows
}

// heapGrowth formats how far the server's live heap rose over its base.
func heapGrowth(st *FeedStats) string {
	return fmt.Sprintf("s0 live heap +%.1f MiB over %.1f MiB", mib(st.HeapPeak-min(st.HeapPeak, st.HeapBase)), mib(st.HeapBase))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// heapSlack is how far the live heap may rise besides what is checked:
// the frames waiting to be queued, the fast clients' calls, buffers
// pooled. (Without the queue's bound the pushers, waiting for nothing,
// would queue hundreds of MiB in the time.)
const heapSlack = 4 << 20

// pushersEnded waits up to within for subscription name's pushers to end,
// and returns the server's figures then.
func pushersEnded(name string, within time.Duration, serverStats func(bool) (*FeedStats, error)) (st *FeedStats, ended bool, err error) {
	waited := waitFor(within, func() bool {
		st, err = serverStats(false)
		return err != nil || st.Subscribers[name].Running == 0
	})
	return st, waited == nil && err == nil, err
}

func slowPushes(t timings, slow *tp.Peer, addr string, serverStats func(bool) (*FeedStats, error)) (result, error) {
	r := result{scenario: fmt.Sprintf("slow link %s: pushes of %d KiB from %d pushers, write timeout %s", slowRate, slowPushSize>>10, slowPushers, slowWriteTimeout)}
	sess, rerr := slow.Dial(addr)
	if rerr != nil {
		return r, rerr.ToError()
	}
	received := ticks.Load()
	sub := Subscription{Name: "slow", Size: slowPushSize, Pushers: slowPushers, WriteTimeout: slowWriteTimeout}
	if rerr := sess.Pull("/feed/subscribe", &sub, new(string)).Rerror(); rerr != nil {
		sess.Close()
		return r, rerr.ToError()
	}
	time.Sleep(t.slow)
	during, err := serverStats(false)
	if err != nil {
		sess.Close()
		return r, err
	}
	delivered := ticks.Load() - received
	// The client leaves: the pushes waiting for room in the connection's
	// queue, and the queue, go with its session.
	left := time.Now()
	sess.Close()
	_, ended, err := pushersEnded("slow", 5*time.Second, serverStats)
	if err != nil {
		return r, err
	}
	endTook := time.Since(left)
	st, err := serverStats(true)
	if err != nil {
		return r, err
	}
	ps := during.Subscribers["slow"]
	r.calls, r.failed, r.why = ps.OK, ps.Failed, codes(ps.Codes)
	r.detect = fmt.Sprintf("pushes wait up to %s", msFine(ps.MaxOK))
	r.recover = fmt.Sprintf("waiting pushes ended %s after the client left", msFine(endTook))
	r.memory = heapGrowth(st)
	r.note("%d pushes taken in %s (%.0f KiB/s), %d of them delivered (%.0f KiB/s: the link); the rest waited in the connection's write queue until the client left; the longest Push call waited %s for room in it",
		ps.OK, t.slow, float64(ps.OK*slowPushSize)/1024/t.slow.Seconds(), delivered, float64(delivered*slowPushSize)/1024/t.slow.Seconds(), msFine(ps.MaxOK))
	if ps.Failed > 0 {
		r.problem("%d pushes failed while the link only made them wait", ps.Failed)
	}
	if !ended {
		r.problem("the pushers still waited 5 s after the client left")
	}
	if g := st.HeapPeak - min(st.HeapPeak, st.HeapBase); g > queueBound+heapSlack {
		r.problem("the server's live heap grew by %.1f MiB for one slow session", mib(g))
	}
	return r, nil
}

func slowStream(t timings, slow *tp.Peer, addr string, serverStats func(bool) (*FeedStats, error)) (result, error) {
	window := tp.DefaultStreamWindow * 16 // PeerConfig.StreamWindowMax's default
	r := result{scenario: fmt.Sprintf("slow link %s: a stream of %d KiB messages, window up to %d MiB", slowRate, streamMsgSize>>10, window>>20)}
	sess, rerr := slow.Dial(addr)
	if rerr != nil {
		return r, rerr.ToError()
	}
	defer sess.Close()
	st, rerr := sess.OpenStream("/flood/out", streamMsgSize)
	if rerr != nil {
		return r, rerr.ToError()
	}
	start := time.Now()
	for time.Since(start) < t.slow {
		var msg string
		if err := st.Recv(&msg); err != nil {
			r.problem("the stream ended: %v", err)
			break
		}
		r.calls++
	}
	took := time.Since(start)
	st.Close()
	fs, err := serverStats(true)
	if err != nil {
		return r, err
	}
	r.detect = fmt.Sprintf("%.0f KiB/s received", float64(r.calls*streamMsgSize)/1024/took.Seconds())
	r.memory = heapGrowth(fs)
	r.note("the stream carried %d messages (%.0f KiB/s); the server sent %d", r.calls, float64(r.calls*streamMsgSize)/1024/took.Seconds(), fs.StreamSent)
	if g := fs.HeapPeak - min(fs.HeapPeak, fs.HeapBase); g > uint64(window)+heapSlack {
		r.problem("the sending server's heap grew by %.1f MiB, past the %d MiB window", mib(g), window>>20)
	}
	return r, nil
}

// slowCut pushes over the slow link, then cuts it: the write that no
// longer moves fails at the write timeout, and the server closes the
// session.
func slowCut(t timings, slow *tp.Peer, addr string, link *netns.Link, serverStats func(bool) (*FeedStats, error)) (result, error) {
	r := result{scenario: fmt.Sprintf("slow link %s cut under pushes, write timeout %s", slowRate, cutWriteTimeout)}
	sess, rerr := slow.Dial(addr)
	if rerr != nil {
		return r, rerr.ToError()
	}
	defer sess.Close()
	sub := Subscription{Name: "cut", Size: slowPushSize, Pushers: 1, WriteTimeout: cutWriteTimeout}
	if rerr := sess.Pull("/feed/subscribe", &sub, new(string)).Rerror(); rerr != nil {
		return r, rerr.ToError()
	}
	time.Sleep(t.warm)
	cut := time.Now()
	if err := link.Down(); err != nil {
		return r, err
	}
	defer link.Up()
	st, ended, err := pushersEnded("cut", 4*cutWriteTimeout+2*time.Second, serverStats)
	if err != nil {
		return r, err
	}
	took := time.Since(cut)
	ps := st.Subscribers["cut"]
	r.calls, r.failed, r.why = ps.OK+ps.Failed, ps.Failed, codes(ps.Codes)
	if !ended {
		r.problem("the server still pushed %s after the cut", took.Round(time.Millisecond))
		return r, nil
	}
	r.detect = fmt.Sprintf("write failed, session closed %s after the cut", msFine(took))
	if ps.Failed == 0 {
		r.problem("no push failed after the cut")
	}
	// The write timeout counts from the last bytes the link took, at
	// most a quarter late; the cut itself and closing the session take
	// a little more.
	if took > cutWriteTimeout*5/4+500*time.Millisecond {
		r.problem("the server took %s to give up the session, past its %s write timeout", took, cutWriteTimeout)
	}
	return r, nil
}

func msFine(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return ms(d)
}
