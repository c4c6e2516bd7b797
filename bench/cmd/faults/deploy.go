//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/bench/internal/netns"
	"github.com/teleport-go/teleport/plugin/discovery/etcd"
	"github.com/teleport-go/teleport/plugin/discovery/etcd/embedded"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// restarted is the server a deploy restarts.
const restarted = 1

// deploy restarts one of three servers under load (SIGTERM: a graceful
// Close; then a new process on the same address), first with a balancer
// given the servers' addresses, whose session to the restarted one
// redials, beside a lone session with RedialTimes to it; then with a
// balancer following etcd, where the servers register.
func deploy(t timings) []result {
	rows := deployStatic(t)
	return append(rows, deployEtcd(t))
}

func deployStatic(t timings) []result {
	fail := func(err error) []result { return []result{{scenario: "deploy", problems: []string{err.Error()}}} }
	w, err := newWorld(3)
	if err != nil {
		return fail(err)
	}
	defer w.close()
	for i := range w.servers {
		if err := w.start(i); err != nil {
			return fail(err)
		}
	}
	var addrs []string
	for i := range w.servers {
		addrs = append(addrs, w.dialAddr(i))
	}
	bal := tp.NewPeer(nil)
	defer bal.Close()
	// No route is marked idempotent: a graceful restart may cost none.
	b := tp.NewBalancer(bal, tp.StaticAddrs(addrs...), nil)
	defer b.Close()
	cli := tp.NewPeer(&tp.PeerConfig{RedialTimes: 50})
	defer cli.Close()
	sess, rerr := cli.Dial(w.dialAddr(restarted))
	if rerr != nil {
		return fail(rerr.ToError())
	}
	direct := startLoad("session", workers, t.deadline, pullOn(sess))
	var directStop time.Duration
	row, err := restartUnder(t, w, b, "deploy: 1 of 3 servers restarted (SIGTERM, same address), balancer over their addresses", func() {
		directStop = direct.stop()
	})
	if err != nil {
		direct.stop()
		return fail(err)
	}
	s := result{scenario: "deploy: the same restart, one session with RedialTimes to that server", memory: row.memory}
	if directStop > t.deadline+time.Second {
		s.problem("the callers took %s to return once stopped", directStop)
	}
	s.calls, s.failed, s.why = direct.counts()
	if d, ok := direct.firstFailure(row.stoppedAt); ok {
		s.detect = ms(d) + " (first failed pull after SIGTERM)"
	}
	if d, ok := direct.firstSuccess(row.readyAt); ok {
		s.recover = ms(d) + " (first pull answered after the new process listened)"
	} else {
		s.problem("no pull was answered by the new process")
	}
	for _, c := range direct.calls {
		if c.code != 0 && c.code != tp.CodeConnClosed {
			s.problem("a pull failed with %d: only pulls not sent, while the session redials, may fail", c.code)
			break
		}
	}
	if !sess.IsOk() {
		s.problem("the session did not come back")
	}
	return []result{row.result, s}
}

func deployEtcd(t timings) result {
	fail := func(err error) result { return result{scenario: "deploy with etcd", problems: []string{err.Error()}} }
	w, err := newWorld(3)
	if err != nil {
		return fail(err)
	}
	defer w.close()
	// etcd serves in the clients' namespace, where every server's link
	// ends.
	dir, err := os.MkdirTemp("", "tpfaults-etcd")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	var srv *embedded.Server
	if err := netns.In(w.client, func() (err error) {
		srv, err = embedded.StartAt(dir, "0.0.0.0")
		return err
	}); err != nil {
		return fail(err)
	}
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Endpoint())
	if err != nil {
		return fail(err)
	}
	w.etcdPort = port
	for i := range w.servers {
		if err := w.start(i); err != nil {
			return fail(err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{net.JoinHostPort("127.0.0.1", port)},
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return netns.DialContext(ctx, w.client, "tcp", addr)
		})},
	})
	if err != nil {
		return fail(err)
	}
	defer client.Close()
	bal := tp.NewPeer(nil)
	defer bal.Close()
	b := tp.NewBalancer(bal, etcd.NewResolver(client, ""), &tp.BalancerConfig{Service: etcdService})
	defer b.Close()
	if err := waitFor(10*time.Second, func() bool { return readyInstances(b) == len(w.servers) }); err != nil {
		return fail(fmt.Errorf("the balancer did not see the 3 servers registered in etcd: %w", err))
	}
	row, err := restartUnder(t, w, b, "deploy: the same restart, balancer following etcd (lease TTL 2s)", nil)
	if err != nil {
		return fail(err)
	}
	return row.result
}

// restartRow is a restart's row and its moments.
type restartRow struct {
	result
	stoppedAt, readyAt time.Time
}

// restartUnder restarts server restarted under a load of pulls through b,
// pulls whose route b is not told is idempotent, and checks that none
// failed. stopOthers, when set, stops other loads with b's.
func restartUnder(t timings, w *world, b *tp.Balancer, name string, stopOthers func()) (restartRow, error) {
	r := restartRow{result: result{scenario: name}}
	addr := w.dialAddr(restarted)
	l := startLoad(name, workers, 0, pullThrough(b))
	time.Sleep(t.warm)
	r.stoppedAt = time.Now()
	if err := w.signal(restarted, syscall.SIGTERM); err != nil {
		return r, err
	}
	left := waitFor(5*time.Second, func() bool { return !instanceReady(b, addr) })
	leftAfter := time.Since(r.stoppedAt)
	exited := make(chan error, 1)
	go func() { exited <- w.servers[restarted].cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			r.problem("the restarted server's first process ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		return r, errors.New("the server did not exit within 10 s of SIGTERM")
	}
	away := time.Since(r.stoppedAt)
	calls := instanceCalls(b, addr)
	if err := w.start(restarted); err != nil {
		return r, err
	}
	r.readyAt = time.Now()
	back := waitFor(10*time.Second, func() bool { return instanceReady(b, addr) && instanceCalls(b, addr) > calls })
	backAfter := time.Since(r.readyAt)
	time.Sleep(t.after)
	if d := l.stop(); d > time.Second {
		r.problem("the callers took %s to return once stopped", d)
	}
	if stopOthers != nil {
		stopOthers()
	}
	r.memory = w.memory()
	r.calls, r.failed, r.why = l.counts()
	if r.failed > 0 {
		r.problem("%d calls failed through the restart", r.failed)
	}
	if left != nil {
		r.problem("the balancer kept sending to the stopped server: %v", left)
	} else {
		r.detect = fmt.Sprintf("out of rotation %s after SIGTERM", msFine(leftAfter))
	}
	if back != nil {
		r.problem("the new process got no call: %v", back)
	} else {
		r.recover = fmt.Sprintf("in rotation %s after it listened (away %s)", msFine(backAfter), msFine(away))
	}
	st := b.Stats()
	r.note("balancer: %d retries, %d sent elsewhere before they were written", st.Retries, st.Reroutes)
	return r, nil
}

func instanceReady(b *tp.Balancer, addr string) bool {
	for _, in := range b.Stats().Instances {
		if in.Addr == addr {
			return in.Ready && !in.Ejected
		}
	}
	return false
}

func instanceCalls(b *tp.Balancer, addr string) uint64 {
	for _, in := range b.Stats().Instances {
		if in.Addr == addr {
			return in.Calls
		}
	}
	return 0
}

func readyInstances(b *tp.Balancer) int {
	n := 0
	for _, in := range b.Stats().Instances {
		if in.Ready {
			n++
		}
	}
	return n
}

// waitFor polls cond every 5 ms for at most d.
func waitFor(d time.Duration, cond func() bool) error {
	for stop := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(stop) {
			return fmt.Errorf("not within %s", d)
		}
	}
	return nil
}
