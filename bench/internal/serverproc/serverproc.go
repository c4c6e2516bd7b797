// Package serverproc runs a benchmark server in a child process, so that
// the server's CPU time and allocations can be measured apart from the
// load generator's.
//
// The parent starts the child (normally its own binary with a flag that
// makes it call Serve) with pipes on stdin and stdout. The child prints
// "addr HOST:PORT", then answers each "stats" line with
// "stats CPU_NANOS MALLOCS GCS" (its own CPU time from getrusage, its
// runtime.MemStats.Mallocs and NumGC), and stops the server and returns
// when stdin closes.
package serverproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
)

// Usage is a sample of the child's counters.
type Usage struct {
	// CPU is the child's user plus system CPU time; zero where the
	// platform cannot tell.
	CPU time.Duration
	// Mallocs is the child's cumulative count of heap allocations.
	Mallocs uint64
	// GCs is the child's cumulative count of garbage collection cycles.
	GCs uint32
}

// Serve is the child side: it starts the server of the runner kind on
// addr, reports the address on out and answers stats requests read from
// in until in is closed.
func Serve(kind, addr string, in io.Reader, out io.Writer) error {
	r, err := runner.Lookup(kind)
	if err != nil {
		return err
	}
	realAddr, stop, err := r.StartServer(addr)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "addr %s\n", realAddr); err != nil {
		stop()
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() != "stats" {
			continue
		}
		u := self()
		if _, err := fmt.Fprintf(out, "stats %d %d %d\n", int64(u.CPU), u.Mallocs, u.GCs); err != nil {
			break
		}
	}
	return stop()
}

func self() Usage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Usage{CPU: CPUTime(), Mallocs: ms.Mallocs, GCs: ms.NumGC}
}

// Proc is a running child server.
type Proc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string

	stopOnce sync.Once
	stopErr  error
}

// Start runs cmd, which must end up calling Serve with its stdin and
// stdout, and waits for the server's address. cmd.Stdin and cmd.Stdout
// must be unset; cmd.Stderr is left as the caller set it.
func Start(cmd *exec.Cmd) (*Proc, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := p.out.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		in.Close()
		werr := cmd.Wait()
		return nil, fmt.Errorf("serverproc: child gave no address (read %q: %v; exit: %v)", line, err, werr)
	}
	p.addr = addr
	return p, nil
}

// Addr is the address the child's server listens on.
func (p *Proc) Addr() string { return p.addr }

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Usage samples the child's counters.
func (p *Proc) Usage() (Usage, error) {
	if _, err := io.WriteString(p.in, "stats\n"); err != nil {
		return Usage{}, err
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	var cpu int64
	if _, err := fmt.Sscanf(line, "stats %d %d %d\n", &cpu, &u.Mallocs, &u.GCs); err != nil {
		return Usage{}, fmt.Errorf("serverproc: bad stats line %q: %w", line, err)
	}
	u.CPU = time.Duration(cpu)
	return u, nil
}

// Stop closes the child's stdin, which stops its server, and waits for
// it to exit. Later calls return the first call's result.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			p.stopErr = errors.Join(p.stopErr, err)
		}
	})
	return p.stopErr
}

// RSS returns the resident set size of process pid in bytes, from the
// VmRSS line of /proc/PID/status (Linux only).
func RSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		if !ok {
			return 0, fmt.Errorf("serverproc: VmRSS line %q not in kB", line)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(kb), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("serverproc: VmRSS line %q: %w", line, err)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("serverproc: no VmRSS in /proc/%d/status", pid)
}
