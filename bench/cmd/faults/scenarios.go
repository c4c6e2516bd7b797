//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/bench/pb"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/plugin/heartbeat"
	"github.com/teleport-go/teleport/socket"
)

const (
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
	// lateness is how far past its deadline a failed call may end.
	lateness = 250 * time.Millisecond
	// workers is the callers of each load.
	workers = 4
)

// pullOn makes the load's calls on one session: the benchmark's request,
// protobuf-encoded, to the benchmark's route.
func pullOn(sess tp.Session) caller {
	return func(ctx context.Context, req, reply *pb.BenchmarkMessage) *tp.Rerror {
		return sess.Pull(benchRoute, req, reply, socket.WithContext(ctx), socket.WithBodyCodec(codec.IdProtobuf)).Rerror()
	}
}

// pullThrough makes the load's calls through a balancer.
func pullThrough(b *tp.Balancer) caller {
	return func(ctx context.Context, req, reply *pb.BenchmarkMessage) *tp.Rerror {
		return b.Pull(benchRoute, req, reply, socket.WithContext(ctx), socket.WithBodyCodec(codec.IdProtobuf)).Rerror()
	}
}

// fixture is a scenario's world with its servers started, a session with
// RedialTimes to server 0, and a balancer over every server.
type fixture struct {
	w        *world
	cli, bal *tp.Peer
	sess     tp.Session
	balancer *tp.Balancer
}

func newFixture(servers int, t timings) (*fixture, error) {
	w, err := newWorld(servers)
	if err != nil {
		return nil, err
	}
	f := &fixture{w: w}
	for i := range servers {
		if err := w.start(i); err != nil {
			f.close()
			return nil, err
		}
	}
	f.cli = tp.NewPeer(&tp.PeerConfig{RedialTimes: 50})
	sess, rerr := f.cli.Dial(w.dialAddr(0))
	if rerr != nil {
		f.close()
		return nil, rerr.ToError()
	}
	f.sess = sess
	var addrs []string
	for i := range servers {
		addrs = append(addrs, w.dialAddr(i))
	}
	f.bal = tp.NewPeer(nil)
	f.balancer = tp.NewBalancer(f.bal, tp.StaticAddrs(addrs...), &tp.BalancerConfig{
		Idempotent: []string{benchRoute}, // it only answers
		TryTimeout: t.deadline,
	})
	return f, nil
}

func (f *fixture) close() {
	if f.balancer != nil {
		f.balancer.Close()
	}
	for _, p := range []*tp.Peer{f.cli, f.bal} {
		if p != nil {
			p.Close()
		}
	}
	f.w.close()
}

// sessionRow and balancerRow fill a row from a load of the fixture's
// session (pulls with deadlines) and one through its balancer (idempotent
// pulls without deadlines, each try bounded by TryTimeout).
func sessionRow(name string, l *load, stopTook time.Duration, fault, end time.Time, t timings) result {
	r := result{scenario: name}
	r.calls, r.failed, r.why = l.counts()
	if d, ok := l.firstFailure(fault); ok {
		r.detect = ms(d) + " (first failed pull)"
	}
	if d, ok := l.firstSuccess(end); ok {
		r.recover = ms(d) + " (first pull answered)"
	} else {
		r.problem("no pull was answered after the fault ended")
	}
	if o := l.overshoot(t.deadline); o > lateness {
		r.problem("a failed pull ended %s after its %s deadline", o, t.deadline)
	} else {
		r.note("failed pulls ended at most %s past their %s deadline", o.Round(time.Millisecond), t.deadline)
	}
	if stopTook > t.deadline+time.Second {
		r.problem("the callers took %s to return once stopped", stopTook)
	}
	return r
}

func balancerRow(name string, l *load, stopTook time.Duration, fault time.Time, t timings, b *tp.Balancer) result {
	r := result{scenario: name}
	r.calls, r.failed, r.why = l.counts()
	if r.failed > 0 {
		r.problem("%d idempotent calls failed through the balancer", r.failed)
	}
	st := b.Stats()
	r.detect = fmt.Sprintf("retries %d, reroutes %d", st.Retries, st.Reroutes)
	if stopTook > t.deadline+time.Second {
		r.problem("the callers took %s to return once stopped", stopTook)
	}
	return r
}

// fault is a fault applied to server 0 under the fixture's two loads for
// a while, then lifted.
type fault struct {
	name               string
	sessionRow, balRow string
	hold               time.Duration
	apply, lift        func(f *fixture) error
	check              func(f *fixture, session *result) // after the loads end; may be nil
}

// underLoad runs a session load and a balancer load over two servers,
// applies ft for ft.hold, lifts it, and returns a row for each load.
func underLoad(t timings, ft fault) []result {
	fail := func(err error) []result { return []result{{scenario: ft.name, problems: []string{err.Error()}}} }
	f, err := newFixture(2, t)
	if err != nil {
		return fail(err)
	}
	defer f.close()
	direct := startLoad("session", workers, t.deadline, pullOn(f.sess))
	balanced := startLoad("balancer", workers, 0, pullThrough(f.balancer))
	defer direct.stop()
	defer balanced.stop()
	time.Sleep(t.warm)
	applied := time.Now()
	if err := ft.apply(f); err != nil {
		return fail(err)
	}
	time.Sleep(ft.hold)
	lifted := time.Now()
	if err := ft.lift(f); err != nil {
		return fail(err)
	}
	time.Sleep(t.after)
	d1, d2 := direct.stop(), balanced.stop()
	mem := f.w.memory()
	a := sessionRow(ft.sessionRow, direct, d1, applied, lifted, t)
	b := balancerRow(ft.balRow, balanced, d2, applied, t, f.balancer)
	a.memory, b.memory = mem, mem
	if ft.check != nil {
		ft.check(f, &a)
	}
	return []result{a, b}
}

// partition cuts server 0's link under load, then heals it.
func partition(t timings) []result {
	return underLoad(t, fault{
		name:       "partition",
		sessionRow: fmt.Sprintf("partition %s, session with RedialTimes, %s deadlines", t.cut, t.deadline),
		balRow:     fmt.Sprintf("partition %s, balancer over 2 (idempotent)", t.cut),
		hold:       t.cut,
		apply:      func(f *fixture) error { return f.w.links[0].Down() },
		lift:       func(f *fixture) error { return f.w.links[0].Up() },
		check: func(f *fixture, a *result) {
			if !f.sess.IsOk() {
				a.problem("the session is not back after the heal")
			}
		},
	})
}

// frozen stops server 0 with SIGSTOP under load, then continues it.
func frozen(t timings) []result {
	return underLoad(t, fault{
		name:       "frozen",
		sessionRow: fmt.Sprintf("frozen server %s (SIGSTOP), session, %s deadlines", t.freeze, t.deadline),
		balRow:     fmt.Sprintf("frozen server %s, balancer over 2 (idempotent)", t.freeze),
		hold:       t.freeze,
		apply:      func(f *fixture) error { return f.w.signal(0, sigStop) },
		lift:       func(f *fixture) error { return f.w.signal(0, sigCont) },
	})
}

// halfOpen cuts server 0's link and kills the server behind it: no FIN
// ever reaches the clients. It measures how long each kind of client
// takes to see its session dead.
func halfOpen(t timings) []result {
	w, err := newWorld(1)
	if err != nil {
		return []result{{scenario: "half-open", problems: []string{err.Error()}}}
	}
	defer w.close()
	if err := w.start(0); err != nil {
		return []result{{scenario: "half-open", problems: []string{err.Error()}}}
	}
	type client struct {
		name      string
		peer      *tp.Peer
		keepalive time.Duration // -1: off
		heartbeat bool
		busy      bool
		sess      tp.Session
		load      *load
		closedAt  time.Time
	}
	clients := []*client{
		{name: fmt.Sprintf("heartbeat plugin %s, idle, keepalive off", t.heartbeat), peer: tp.NewPeer(nil, heartbeat.New(t.heartbeat)), keepalive: -1, heartbeat: true},
		{name: fmt.Sprintf("heartbeat plugin %s, pulls in flight, keepalive off", t.heartbeat), peer: tp.NewPeer(nil, heartbeat.New(t.heartbeat)), keepalive: -1, heartbeat: true, busy: true},
		{name: fmt.Sprintf("TCP keepalive %s, idle", t.keepalive), peer: tp.NewPeer(nil), keepalive: t.keepalive},
		{name: fmt.Sprintf("TCP keepalive %s, pulls in flight", t.keepalive), peer: tp.NewPeer(nil), keepalive: t.keepalive, busy: true},
		{name: "no plugin, keepalive off, idle", peer: tp.NewPeer(nil), keepalive: -1},
	}
	defer socket.SetKeepAlivePeriod(0)
	for _, c := range clients {
		defer c.peer.Close()
		// The keep-alive period is taken when a connection is made.
		socket.SetKeepAlivePeriod(c.keepalive)
		sess, rerr := c.peer.Dial(w.dialAddr(0))
		if rerr != nil {
			return []result{{scenario: "half-open", problems: []string{rerr.Error()}}}
		}
		c.sess = sess
		if c.busy {
			c.load = startLoad(c.name, 1, t.deadline, pullOn(sess))
		}
	}
	socket.SetKeepAlivePeriod(0)
	time.Sleep(t.warm)
	cut := time.Now()
	if err := w.links[0].Down(); err != nil {
		return []result{{scenario: "half-open", problems: []string{err.Error()}}}
	}
	if err := w.signal(0, os.Kill); err != nil {
		return []result{{scenario: "half-open", problems: []string{err.Error()}}}
	}
	_ = w.servers[0].cmd.Wait()
	deadline := time.After(t.halfOpenWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	open := len(clients)
	for open > 0 {
		select {
		case <-deadline:
			open = 0
		case now := <-tick.C:
			for _, c := range clients {
				if c.closedAt.IsZero() && !c.sess.IsOk() {
					c.closedAt = now
					open--
				}
			}
		}
	}
	mem := w.memory()
	var rows []result
	for _, c := range clients {
		r := result{scenario: "half-open, " + c.name, memory: mem}
		if c.load != nil {
			c.load.stop()
			r.calls, r.failed, r.why = c.load.counts()
		}
		if c.closedAt.IsZero() {
			r.detect = fmt.Sprintf("not within %s", t.halfOpenWait)
		} else {
			r.detect = ms(c.closedAt.Sub(cut)) + " (session closed)"
		}
		switch {
		case c.heartbeat:
			// Closed between 3 and 4 intervals after the last packet read.
			budget := time.Duration(heartbeat.MaxSilentIntervals+1)*t.heartbeat + 500*time.Millisecond
			if c.closedAt.IsZero() || c.closedAt.Sub(cut) > budget {
				r.problem("the heartbeat plugin did not close the session within %s", budget)
			}
		case c.keepalive > 0 && !c.busy:
			// Linux probes 9 times, one period apart, after a period idle.
			budget := 10*t.keepalive + 2*time.Second
			if c.closedAt.IsZero() || c.closedAt.Sub(cut) > budget {
				r.problem("TCP keepalive did not end the session within %s", budget)
			}
		}
		rows = append(rows, r)
	}
	return rows
}
