//go:build linux

// Package netns builds small networks of Linux network namespaces joined
// by veth pairs, for fault tests: a link can be set down (a partition, or
// a half-open connection once the process behind it dies), shaped with a
// tbf qdisc (a slow link), and processes can run inside a namespace.
//
// Every address is in 198.18.0.0/15, the benchmarking range, inside
// namespaces this package made; nothing is routed anywhere else. The
// namespaces are named after the process (tpf<pid>-…), so Cleanup of a
// later run removes those of a run that was killed before its own.
//
// It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the ip and tc
// commands of iproute2; Available says whether they work here.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// prefix starts the name of every namespace and interface this package
// makes.
const prefix = "tpf"

// Net is a set of namespaces and the veth links between them.
type Net struct {
	id    string // tpf<pid>
	names []string
	links []*Link
}

// Link is a veth pair between two namespaces, with an address on each end.
type Link struct {
	n          *Net
	A, B       string // the namespaces of the two ends
	devA, devB string
	AddrA      string // the address of A's end (no port)
	AddrB      string
}

// Available returns nil when namespaces can be made and removed here, or
// an error saying why not (not root, no ip command, no namespace support).
func Available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("network namespaces are Linux only")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("no ip command (iproute2): %v", err)
	}
	name := fmt.Sprintf("%s%dprobe", prefix, os.Getpid())
	if err := run("ip", "netns", "add", name); err != nil {
		return fmt.Errorf("cannot make a network namespace: %v", err)
	}
	if err := run("ip", "netns", "del", name); err != nil {
		return fmt.Errorf("cannot remove a network namespace: %v", err)
	}
	return nil
}

// New makes the namespaces named by names (short: a few letters each),
// each with its loopback up. Close removes them.
func New(names ...string) (*Net, error) {
	Cleanup()
	n := &Net{id: fmt.Sprintf("%s%d", prefix, os.Getpid())}
	for _, name := range names {
		ns := n.NS(name)
		if err := run("ip", "netns", "add", ns); err != nil {
			n.Close()
			return nil, err
		}
		n.names = append(n.names, ns)
		if err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// NS returns the full name of the namespace called name in New.
func (n *Net) NS(name string) string { return n.id + "-" + name }

// Connect joins namespaces a and b (names given to New) with a veth pair,
// the k-th link of the net: its ends get 198.18.k.1 (a) and 198.18.k.2
// (b), on a /30 of their own.
func (n *Net) Connect(a, b string) (*Link, error) {
	k := len(n.links)
	if k > 255 {
		return nil, fmt.Errorf("netns: more than 256 links")
	}
	l := &Link{
		n: n, A: n.NS(a), B: n.NS(b),
		devA:  fmt.Sprintf("%sa%d", n.id, k),
		devB:  fmt.Sprintf("%sb%d", n.id, k),
		AddrA: fmt.Sprintf("198.18.%d.1", k),
		AddrB: fmt.Sprintf("198.18.%d.2", k),
	}
	if len(l.devA) > 15 {
		return nil, fmt.Errorf("netns: interface name %q is too long", l.devA)
	}
	steps := [][]string{
		{"ip", "link", "add", l.devA, "netns", l.A, "type", "veth", "peer", "name", l.devB, "netns", l.B},
		{"ip", "-n", l.A, "addr", "add", l.AddrA + "/30", "dev", l.devA},
		{"ip", "-n", l.B, "addr", "add", l.AddrB + "/30", "dev", l.devB},
		{"ip", "-n", l.A, "link", "set", l.devA, "up"},
		{"ip", "-n", l.B, "link", "set", l.devB, "up"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	n.links = append(n.links, l)
	return l, nil
}

// Down cuts the link: both ends go down, so packets are dropped without a
// FIN or a reset reaching either side.
func (l *Link) Down() error {
	if err := run("ip", "-n", l.A, "link", "set", l.devA, "down"); err != nil {
		return err
	}
	return run("ip", "-n", l.B, "link", "set", l.devB, "down")
}

// Up brings the link back.
func (l *Link) Up() error {
	if err := run("ip", "-n", l.A, "link", "set", l.devA, "up"); err != nil {
		return err
	}
	return run("ip", "-n", l.B, "link", "set", l.devB, "up")
}

// Shape limits both directions of the link to rate (a tc rate, such as
// "1mbit") with a tbf qdisc.
func (l *Link) Shape(rate string) error {
	for _, e := range [2][2]string{{l.A, l.devA}, {l.B, l.devB}} {
		if err := run("tc", "-n", e[0], "qdisc", "replace", "dev", e[1], "root", "tbf", "rate", rate, "burst", "16kb", "latency", "100ms"); err != nil {
			return err
		}
	}
	return nil
}

// Command returns cmd run inside namespace ns (a full name, see NS): the
// process is cmd itself, so its pid is the Cmd's.
func (n *Net) Command(ns string, name string, arg ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, arg...)...)
}

// Dialer returns a function dialing TCP addresses from inside namespace
// ns: the socket is made by a thread moved into ns for that moment, and a
// socket stays in the namespace it was made in.
func (n *Net) Dialer(ns string) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		return DialContext(context.Background(), ns, network, addr)
	}
}

// DialContext dials addr from inside namespace ns (a full name), within
// ctx.
func DialContext(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := In(ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// In runs fn on a thread moved into namespace ns (a full name), then moves
// the thread back. Sockets fn makes stay in ns. fn runs on a goroutine of
// its own: should moving the thread back fail, that goroutine ends locked
// to it and the runtime retires the thread, so no other code runs in ns.
func In(ns string, fn func() error) error {
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	home, err := os.Open("/proc/self/ns/net") // the main thread's: where the process lives
	if err != nil {
		return err
	}
	defer home.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		ferr := fn()
		if err := setns(home); err != nil {
			done <- fmt.Errorf("netns: moving the thread back: %v (after %v)", err, ferr)
			return // still locked: the thread goes with the goroutine
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

func setns(f *os.File) error {
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: setns: %v", err)
	}
	return nil
}

// Close removes the namespaces, and with them their links and anything
// still bound in them.
func (n *Net) Close() error {
	var first error
	for _, ns := range n.names {
		if err := run("ip", "netns", "del", ns); err != nil && first == nil {
			first = err
		}
	}
	n.names = nil
	return first
}

// Cleanup removes namespaces left by runs of this package whose process
// is gone (killed before its Close).
func Cleanup() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue // its run goes on
		}
		_ = run("ip", "netns", "del", name)
	}
}

// PeakRSS returns the peak resident set (VmHWM) of process pid, in bytes.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := strings.Fields(string(v))
			if len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func run(name string, arg ...string) error {
	out, err := exec.Command(name, arg...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(arg, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
