// Command cluster runs one service on several server processes behind a
// balancer, with etcd as the registry, and shows that failover loses no
// call.
//
// It starts an embedded etcd (in a temporary directory, on loopback) and
// three server processes (this program again, run with the etcd endpoint
// in its environment), each of which registers its address in etcd. A
// client pulls continuously through a tp.Balancer that follows etcd. Then
// one server is killed (SIGKILL: a crash), another shut down gracefully
// (SIGTERM), and a new one started. The program prints the calls each
// instance served, the failed calls (0), the retries, and how long the
// client took to notice the crash and the join; then it stops everything
// and exits. Linux and other Unix systems.
//
// With -etcd host:port it uses that etcd (a real cluster, or an etcd
// server from the operating system's packages) instead of an embedded one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/plugin/discovery/etcd"
	"github.com/teleport-go/teleport/plugin/discovery/etcd/embedded"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdEnv, when set, makes this program a server registering in the etcd
// at that endpoint.
const etcdEnv = "TP_CLUSTER_EXAMPLE_ETCD"

// The service's name and its servers' lease.
const (
	service = "info"
	ttl     = 2 * time.Second
)

func main() {
	if ep := os.Getenv(etcdEnv); ep != "" {
		serve(ep)
		return
	}
	external := flag.String("etcd", "", "endpoint of a running etcd (default: start an embedded one)")
	flag.Parse()
	tp.SetLoggerLevel("WARNING") // the balancer notes each lost instance at NOTICE
	if err := run(os.Stdout, *external); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// Info is the servers' controller.
type Info struct{ tp.PullCtx }

// Pid answers with the process id of the server, after a little work, so
// that pulls are in flight when a server is killed.
func (i *Info) Pid(*struct{}) (int, *tp.Rerror) {
	time.Sleep(time.Millisecond)
	return os.Getpid(), nil
}

// serve is a server process: it registers in etcd and serves until
// SIGTERM shuts it down gracefully (or SIGKILL ends it).
func serve(endpoint string) {
	tp.SetLoggerLevel("WARNING")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster server:", err)
		os.Exit(1)
	}
	reg := etcd.NewRegistry(cli, etcd.Config{Service: service, TTL: ttl, Version: "1.0.0"})
	srv := tp.NewPeer(&tp.PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}}, reg)
	srv.PullRouter.Reg(new(Info))
	tp.SetShutdown(5*time.Second, nil, nil)
	go tp.GraceSignal()
	if err := srv.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster server:", err)
		os.Exit(1)
	}
	select {} // GraceSignal exits the process
}

// child is a server process.
type child struct {
	cmd    *exec.Cmd
	doneCh chan struct{} // closed when it has exited
	addr   string        // as registered, once the balancer saw it
	fate   string
}

func startChild(endpoint string) (*child, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), etcdEnv+"="+endpoint)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, doneCh: make(chan struct{}), fate: "served to the end"}
	go func() {
		cmd.Wait()
		close(c.doneCh)
	}()
	return c, nil
}

// waitUntil polls cond every millisecond for at most d, and returns how
// long it took.
func waitUntil(d time.Duration, what string, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			return 0, errors.New("timed out waiting for " + what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start), nil
}

// instances returns the balancer's instances by address.
func instances(b *tp.Balancer) map[string]tp.InstanceStats {
	m := map[string]tp.InstanceStats{}
	for _, in := range b.Stats().Instances {
		m[in.Addr] = in
	}
	return m
}

// run runs the scenario with the etcd at endpoint, or an embedded one when
// endpoint is empty.
func run(out io.Writer, endpoint string) (err error) {
	if endpoint == "" {
		dir, err := os.MkdirTemp("", "tp-cluster-etcd-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		etcdSrv, err := embedded.Start(dir)
		if err != nil {
			return err
		}
		defer etcdSrv.Close()
		endpoint = etcdSrv.Endpoint()
		fmt.Fprintf(out, "embedded etcd ready in %v at %s\n", time.Since(start).Round(time.Millisecond), endpoint)
	} else {
		fmt.Fprintf(out, "etcd at %s\n", endpoint)
	}

	var children []*child
	defer func() {
		for _, c := range children {
			c.cmd.Process.Kill()
			<-c.doneCh
		}
	}()
	byAddr := map[string]*child{}
	// started starts a server and waits for the balancer to be ready on
	// it, returning how long that took.
	var b *tp.Balancer
	started := func() (time.Duration, error) {
		c, err := startChild(endpoint)
		if err != nil {
			return 0, err
		}
		children = append(children, c)
		return waitUntil(10*time.Second, "a new server", func() bool {
			for addr, in := range instances(b) {
				if byAddr[addr] == nil && in.Ready {
					c.addr, byAddr[addr] = addr, c
					return true
				}
			}
			return false
		})
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	b = tp.NewBalancer(nil, etcd.NewResolver(cli, ""), &tp.BalancerConfig{
		Service:    service,
		Idempotent: []string{"/info/pid"}, // it reads and changes nothing
	})
	defer b.Close()
	for range 3 {
		if _, err := started(); err != nil {
			return err
		}
	}

	var (
		served   sync.Map // instance address -> *atomic.Int64
		failed   atomic.Int64
		lastErr  atomic.Value
		stopLoad = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				var pid int
				cmd := b.Pull("/info/pid", nil, &pid)
				if rerr := cmd.Rerror(); rerr != nil {
					failed.Add(1)
					lastErr.Store(rerr.Error())
					continue
				}
				n, _ := served.LoadOrStore(cmd.Session().RemoteAddr().String(), new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	defer func() {
		select {
		case <-stopLoad:
		default:
			close(stopLoad)
			wg.Wait()
		}
	}()
	pause := func() { time.Sleep(500 * time.Millisecond) }
	pause()

	// A crash: the kernel closes the connections, the lease is left to
	// expire.
	killed := children[0]
	killed.fate = "killed (SIGKILL)"
	killed.cmd.Process.Signal(syscall.SIGKILL)
	noticeCrash, err := waitUntil(10*time.Second, "the crash noticed", func() bool { return !instances(b)[killed.addr].Ready })
	if err != nil {
		return err
	}
	expiry, err := waitUntil(10*time.Second, "the lease to expire", func() bool { _, ok := instances(b)[killed.addr]; return !ok })
	if err != nil {
		return err
	}
	expiry += noticeCrash
	pause()

	// A graceful shutdown: deregistered, then the goaway.
	stopped := children[1]
	stopped.fate = "shut down (SIGTERM)"
	stopped.cmd.Process.Signal(syscall.SIGTERM)
	deregistered, err := waitUntil(10*time.Second, "the deregistration", func() bool { _, ok := instances(b)[stopped.addr]; return !ok })
	if err != nil {
		return err
	}
	select {
	case <-stopped.doneCh:
	case <-time.After(10 * time.Second):
		return errors.New("the server shut down with SIGTERM did not exit")
	}
	pause()

	// A join.
	join, err := started()
	if err != nil {
		return err
	}
	children[len(children)-1].fate = "started during the run"
	pause()
	close(stopLoad)
	wg.Wait()

	st := b.Stats()
	var addrs []string
	for addr := range byAddr {
		addrs = append(addrs, addr)
	}
	sort.Slice(addrs, func(i, j int) bool { return byAddr[addrs[i]].cmd.Process.Pid < byAddr[addrs[j]].cmd.Process.Pid })
	fmt.Fprintf(out, "%-22s %8s %8s  %s\n", "instance", "pid", "calls", "")
	total := int64(0)
	for _, addr := range addrs {
		n := int64(0)
		if v, ok := served.Load(addr); ok {
			n = v.(*atomic.Int64).Load()
		}
		total += n
		fmt.Fprintf(out, "%-22s %8d %8d  %s\n", addr, byAddr[addr].cmd.Process.Pid, n, byAddr[addr].fate)
	}
	fmt.Fprintf(out, "calls: %d, failed calls: %d, retries: %d, rerouted before sending: %d\n", total+failed.Load(), failed.Load(), st.Retries, st.Reroutes)
	fmt.Fprintf(out, "crash noticed after %v (connection lost); removed from etcd after %v (lease TTL %v)\n",
		noticeCrash.Round(time.Millisecond), expiry.Round(time.Millisecond), ttl)
	fmt.Fprintf(out, "graceful shutdown: deregistered after %v\n", deregistered.Round(time.Millisecond))
	fmt.Fprintf(out, "join seen after %v (process start, registration, dial)\n", join.Round(time.Millisecond))
	if failed.Load() > 0 {
		return fmt.Errorf("%d failed calls; last: %v", failed.Load(), lastErr.Load())
	}

	// Stop the servers left, gracefully.
	for _, c := range children {
		c.cmd.Process.Signal(syscall.SIGTERM)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range children {
		select {
		case <-c.doneCh:
		case <-ctx.Done():
			return errors.New("a server did not exit after SIGTERM")
		}
	}
	return nil
}
