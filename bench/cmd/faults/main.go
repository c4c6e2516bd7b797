//go:build linux

// Command faults puts teleport peers in network namespaces of their own,
// joined by veth pairs in 198.18.0.0/15, and measures what real network
// faults do to them under load: a partition that heals, a half-open
// connection (the link cut and the server killed behind it), a frozen
// server (SIGSTOP), a client behind a slow link (tbf), a server restarted
// on its address (with etcd discovery and without). Each scenario reports
// the calls made, those that failed and why, the time to detect the fault
// and to recover from it, and the peak memory of each process.
//
// The servers are child processes (this binary, run by ip netns exec in
// their namespace); the clients live in this process and dial from the
// client namespace. Nothing is sent outside the namespaces it makes, and
// they are removed when it ends, or by the next run if it was killed.
//
// It needs root and iproute2 (Linux):
//
//	go run ./cmd/faults            # every scenario in full: about 2 min
//	go run ./cmd/faults -short     # the short form CI runs: about 50 s
//	go run ./cmd/faults -only partition,frozen
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/bench/internal/netns"
)

func main() {
	if addr := os.Getenv(serveEnv); addr != "" {
		if err := serve(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	cleanUpOnSignal()
	short := flag.Bool("short", false, "the short form of every scenario (CI's)")
	only := flag.String("only", "", "comma-separated scenarios (default all: "+strings.Join(scenarioNames(), ", ")+")")
	flag.Parse()
	if err := netns.Available(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: cannot run here: %v\n", err)
		os.Exit(2)
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	results, err := runScenarios(timingsFor(*short), names)
	printTable(os.Stdout, results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	for _, r := range results {
		if len(r.problems) > 0 {
			os.Exit(1)
		}
	}
}

// timings are a scenario's durations: the full form follows the issue's
// numbers, the short form keeps CI's run to about a minute.
type timings struct {
	warm, cut, freeze, after time.Duration
	halfOpenWait             time.Duration
	slow                     time.Duration
	heartbeat, keepalive     time.Duration
	deadline                 time.Duration
}

func timingsFor(short bool) timings {
	if short {
		return timings{warm: time.Second, cut: 2 * time.Second, freeze: 3 * time.Second, after: 3 * time.Second,
			halfOpenWait: 13 * time.Second, slow: 3 * time.Second, heartbeat: time.Second, keepalive: time.Second, deadline: 500 * time.Millisecond}
	}
	return timings{warm: 2 * time.Second, cut: 5 * time.Second, freeze: 10 * time.Second, after: 5 * time.Second,
		halfOpenWait: 30 * time.Second, slow: 10 * time.Second, heartbeat: time.Second, keepalive: time.Second, deadline: 500 * time.Millisecond}
}

// result is one row of the table, and what went against expectations.
type result struct {
	scenario string
	calls    int
	failed   int
	why      string
	detect   string
	recover  string
	memory   string
	notes    []string
	problems []string
}

func (r *result) problem(format string, a ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, a...))
}

func (r *result) note(format string, a ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

// world is the namespaces of a run: the clients' and one per server, each
// server joined to the clients by a link of its own.
type world struct {
	net     *netns.Net
	client  string // the clients' namespace
	links   []*netns.Link
	servers []*server
	// etcdPort, when set, is the port of an etcd serving in the clients'
	// namespace, where the servers register.
	etcdPort  string
	closeOnce sync.Once
}

// server is a server child process.
type server struct {
	ns, addr string
	cmd      *exec.Cmd
	peakRSS  int64
}

const serverPort = "7000"

// newWorld makes the clients' namespace, one per server linked to it, and
// the extra namespaces named (which the scenario links itself).
func newWorld(servers int, extra ...string) (*world, error) {
	names := append([]string{"c"}, extra...)
	for i := range servers {
		names = append(names, fmt.Sprintf("s%d", i))
	}
	n, err := netns.New(names...)
	if err != nil {
		return nil, err
	}
	w := &world{net: n, client: n.NS("c")}
	liveWorlds.Lock()
	liveWorlds.m[w] = true
	liveWorlds.Unlock()
	for i := range servers {
		l, err := n.Connect("c", fmt.Sprintf("s%d", i))
		if err != nil {
			w.close()
			return nil, err
		}
		w.links = append(w.links, l)
		w.servers = append(w.servers, &server{ns: l.B, addr: net.JoinHostPort(l.AddrB, serverPort)})
	}
	return w, nil
}

// start runs server i's process and waits for it to listen.
func (w *world) start(i int) error {
	s := w.servers[i]
	self, err := os.Executable()
	if err != nil {
		return err
	}
	s.cmd = w.net.Command(s.ns, self)
	s.cmd.Env = append(os.Environ(), serveEnv+"="+s.addr)
	if w.etcdPort != "" {
		// The servers reach etcd at the clients' end of their link, and
		// advertise the address the clients dial.
		s.cmd.Env = append(s.cmd.Env, etcdEnv+"="+net.JoinHostPort(w.links[i].AddrA, w.etcdPort), advertiseEnv+"="+w.dialAddr(i))
	}
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() && sc.Text() == "ready" {
			ready <- nil
		} else {
			ready <- fmt.Errorf("server %d did not start: %v", i, sc.Err())
		}
		for sc.Scan() {
		}
	}()
	select {
	case err := <-ready:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("server %d did not start within 10 s", i)
	}
}

// signal sends sig to server i, first noting its peak memory when the
// signal ends it.
func (w *world) signal(i int, sig os.Signal) error {
	s := w.servers[i]
	if sig == os.Kill {
		w.notePeak(i)
	}
	return s.cmd.Process.Signal(sig)
}

func (w *world) notePeak(i int) {
	s := w.servers[i]
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if rss, err := netns.PeakRSS(s.cmd.Process.Pid); err == nil {
		s.peakRSS = max(s.peakRSS, rss)
	}
}

// memory returns the peak RSS of the servers and of this process.
func (w *world) memory() string {
	var parts []string
	for i, s := range w.servers {
		w.notePeak(i)
		parts = append(parts, fmt.Sprintf("s%d %.0f MiB", i, float64(s.peakRSS)/(1<<20)))
	}
	self, _ := netns.PeakRSS(os.Getpid())
	parts = append(parts, fmt.Sprintf("clients %.0f MiB", float64(self)/(1<<20)))
	return strings.Join(parts, ", ")
}

// dialAddr is what a client peer dials to reach server i: the ns scheme
// makes the connection from the clients' namespace.
func (w *world) dialAddr(i int) string { return "ns://" + w.client + "/" + w.servers[i].addr }

// close ends the world's servers and removes its namespaces, once.
func (w *world) close() {
	w.closeOnce.Do(func() {
		for i, s := range w.servers {
			if s.cmd != nil && s.cmd.Process != nil {
				w.notePeak(i)
				_ = s.cmd.Process.Signal(os.Kill)
				_ = s.cmd.Process.Signal(sigCont) // a stopped process dies only once continued
				_ = s.cmd.Wait()
			}
		}
		_ = w.net.Close()
		liveWorlds.Lock()
		delete(liveWorlds.m, w)
		liveWorlds.Unlock()
	})
}

// liveWorlds are the worlds not closed yet, for closeAll.
var liveWorlds = struct {
	sync.Mutex
	m map[*world]bool
}{m: map[*world]bool{}}

// closeAll closes every live world: their servers end and their
// namespaces go.
func closeAll() {
	liveWorlds.Lock()
	var ws []*world
	for w := range liveWorlds.m {
		ws = append(ws, w)
	}
	liveWorlds.Unlock()
	for _, w := range ws {
		w.close()
	}
}

// cleanUpOnSignal makes SIGINT and SIGTERM close every live world before
// the process exits, so that an interrupted run leaves no namespace and no
// server behind (a SIGKILLed one leaves them to the next run's Cleanup).
func cleanUpOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "faults: %v: removing the namespaces\n", sig)
		closeAll()
		os.Exit(130)
	}()
}

func init() {
	// ns://<namespace>/<host:port>: a TCP connection made from inside the
	// namespace (see netns.In), for Dial and every redial.
	tp.RegDialer("ns", func(ctx context.Context, _ *tp.Peer, addr string) (net.Conn, error) {
		ns, hostport, ok := strings.Cut(strings.TrimPrefix(addr, "ns://"), "/")
		if !ok {
			return nil, fmt.Errorf("faults: address %q is not ns://NAMESPACE/HOST:PORT", addr)
		}
		return netns.DialContext(ctx, ns, "tcp", hostport)
	})
}

type scenario struct {
	name string
	run  func(timings) []result
}

var scenarios = []scenario{
	{"partition", partition},
	{"half-open", halfOpen},
	{"frozen", frozen},
	{"slow-link", slowLink},
	{"deploy", deploy},
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return names
}

func runScenarios(t timings, names []string) ([]result, error) {
	tp.SetLoggerLevel("OFF")
	var results []result
	for _, s := range scenarios {
		if len(names) > 0 && !slices.Contains(names, s.name) {
			continue
		}
		results = append(results, s.run(t)...)
	}
	return results, nil
}

func printTable(f io.Writer, results []result) {
	fmt.Fprintln(f, "| scenario | calls | failed | why | detect | recover | peak memory |")
	fmt.Fprintln(f, "|---|---:|---:|---|---|---|---|")
	for _, r := range results {
		fmt.Fprintf(f, "| %s | %d | %d | %s | %s | %s | %s |\n", r.scenario, r.calls, r.failed, orDash(r.why), orDash(r.detect), orDash(r.recover), r.memory)
	}
	for _, r := range results {
		for _, n := range r.notes {
			fmt.Fprintf(f, "\n- %s: %s", r.scenario, n)
		}
		for _, p := range r.problems {
			fmt.Fprintf(f, "\n- %s: PROBLEM: %s", r.scenario, p)
		}
	}
	fmt.Fprintln(f)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
