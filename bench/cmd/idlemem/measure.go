package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tp "github.com/teleport-go/teleport"
)

// fdReserve is the descriptors kept back from RLIMIT_NOFILE for what is
// not a session: stdio, pipes, the listener, the runtime's poller.
const fdReserve = 64

// config is one measurement.
type config struct {
	exe         string // binary to run with childFlag as the child server
	sessions    int    // idle sessions to open
	batch       int    // sessions dialed concurrently
	settle      time.Duration
	budgetKiB   float64   // RSS budget per session
	heapProfile string    // file for the child's heap profile; empty: none
	log         io.Writer // progress and the child's stderr
}

// result is what a measurement found.
type result struct {
	asked    int           // sessions asked for
	sessions int           // sessions held during the second sample
	dialTime time.Duration // dialing and the first pull on every session
	base     sample        // child after start-up, after a GC
	loaded   sample        // child holding the sessions, after a GC
}

// perSessionKiB is the child's RSS growth per session, in KiB.
func (r result) perSessionKiB() float64 {
	return (float64(r.loaded.rss) - float64(r.base.rss)) / float64(r.sessions) / 1024
}

// write prints the report, ending in a PASS or FAIL line against budgetKiB.
func (r result) write(w io.Writer, budgetKiB float64) {
	n := float64(r.sessions)
	perKiB := func(a, b uint64) float64 { return (float64(b) - float64(a)) / n / 1024 }
	kib := func(b uint64) string { return fmt.Sprintf("%.0f KiB", float64(b)/1024) }
	if r.sessions != r.asked {
		fmt.Fprintf(w, "sessions:                %d (of %d asked; RLIMIT_NOFILE)\n", r.sessions, r.asked)
	} else {
		fmt.Fprintf(w, "sessions:                %d\n", r.sessions)
	}
	fmt.Fprintf(w, "baseline RSS:            %s (heap in use %s, stacks %s, %d goroutines)\n",
		kib(r.base.rss), kib(r.base.heapInuse), kib(r.base.stackInuse), r.base.goroutines)
	fmt.Fprintf(w, "RSS with sessions:       %s (heap in use %s, stacks %s, %d goroutines)\n",
		kib(r.loaded.rss), kib(r.loaded.heapInuse), kib(r.loaded.stackInuse), r.loaded.goroutines)
	fmt.Fprintf(w, "RSS per session:         %.2f KiB (heap %.2f KiB + stacks %.2f KiB, %.2f goroutines)\n",
		r.perSessionKiB(), perKiB(r.base.heapInuse, r.loaded.heapInuse), perKiB(r.base.stackInuse, r.loaded.stackInuse),
		float64(r.loaded.goroutines-r.base.goroutines)/n)
	verdict := "PASS"
	if r.perSessionKiB() > budgetKiB {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %.2f KiB per idle session, budget %g KiB\n", verdict, r.perSessionKiB(), budgetKiB)
}

// measure runs the child server, samples it, opens the sessions, samples
// it again, and closes everything.
func measure(cfg config) (res result, err error) {
	res.asked = cfg.sessions
	nofile, err := raiseNoFile()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(cfg.exe, childFlag)
	cmd.Stderr = cfg.log
	c, childNoFile, err := startChild(cmd)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, c.stop()) }()

	res.sessions = fitSessions(cfg, nofile, childNoFile)
	if res.base, err = c.sample("gc"); err != nil {
		return res, err
	}

	cli := tp.NewPeer(nil)
	// Closed before the child is stopped (defers run last-in first-out),
	// so the child's sessions end on EOF rather than on a reset.
	defer func() { err = errors.Join(err, cli.Close()) }()
	start := time.Now()
	if err := dialAll(cli, c.addr, res.sessions, cfg.batch); err != nil {
		return res, err
	}
	res.dialTime = time.Since(start)
	fmt.Fprintf(cfg.log, "idlemem: %d sessions dialed and pulled in %v; idle for %v\n", res.sessions, res.dialTime.Round(time.Millisecond), cfg.settle)
	time.Sleep(cfg.settle)

	if res.loaded, err = c.sample("gc"); err != nil {
		return res, err
	}
	if res.loaded.sessions != res.sessions {
		return res, fmt.Errorf("child holds %d sessions, want %d", res.loaded.sessions, res.sessions)
	}
	if cfg.heapProfile != "" {
		path, err := filepath.Abs(cfg.heapProfile)
		if err != nil {
			return res, err
		}
		if err := c.command("heap "+path, "ok"); err != nil {
			return res, err
		}
		fmt.Fprintf(cfg.log, "idlemem: child heap profile in %s\n", path)
	}
	return res, nil
}

// fitSessions is cfg.sessions, cut down to what the smaller of the two
// RLIMIT_NOFILE soft limits allows (0: unknown), with a note on cfg.log.
func fitSessions(cfg config, limits ...uint64) int {
	n := cfg.sessions
	for _, lim := range limits {
		if lim == 0 {
			continue
		}
		fit := 1
		if lim > fdReserve+1 {
			fit = int(lim - fdReserve)
		}
		if fit < n {
			fmt.Fprintf(cfg.log, "idlemem: RLIMIT_NOFILE hard limit %d is too low for %d sessions; measuring %d\n", lim, cfg.sessions, fit)
			n = fit
		}
	}
	return n
}

// dialAll opens n sessions to addr, batch at a time, and makes one pull
// on each, so that each is fully set up on both ends.
func dialAll(cli *tp.Peer, addr string, n, batch int) error {
	for done := 0; done < n; {
		k := min(batch, n-done)
		errs := make([]error, k)
		var wg sync.WaitGroup
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = dialOne(cli, addr, done+i)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("after %d sessions: %w", done, err)
		}
		done += k
	}
	return nil
}

func dialOne(cli *tp.Peer, addr string, i int) error {
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		return fmt.Errorf("dial %s: %w", addr, rerr.ToError())
	}
	var reply int
	if rerr := sess.Pull("/idle/ping", &i, &reply).Rerror(); rerr != nil {
		return fmt.Errorf("pull on session %d: %w", i, rerr.ToError())
	}
	if reply != i+1 {
		return fmt.Errorf("pull on session %d: reply %d, want %d", i, reply, i+1)
	}
	return nil
}

// child is the running child server.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
}

// startChild starts cmd and reads its address and RLIMIT_NOFILE.
func startChild(cmd *exec.Cmd) (*child, uint64, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := c.out.ReadString('\n')
	var nofile uint64
	if err == nil {
		_, err = fmt.Sscanf(line, "addr %s %d\n", &c.addr, &nofile)
	}
	if err != nil {
		return nil, 0, errors.Join(fmt.Errorf("child gave no address (read %q): %w", line, err), c.stop())
	}
	return c, nofile, nil
}

// reply sends one command line and returns the reply line, or the
// child's "err" reply as an error.
func (c *child) reply(cmd string) (string, error) {
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return "", fmt.Errorf("child %q: %w", cmd, err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("child %q: %w", cmd, err)
	}
	line = strings.TrimSuffix(line, "\n")
	if msg, ok := strings.CutPrefix(line, "err "); ok {
		return "", fmt.Errorf("child %q: %s", cmd, msg)
	}
	return line, nil
}

// command sends cmd and expects the reply want.
func (c *child) command(cmd, want string) error {
	line, err := c.reply(cmd)
	if err == nil && line != want {
		err = fmt.Errorf("child %q: reply %q, want %q", cmd, line, want)
	}
	return err
}

// sample sends cmd ("rss" or "gc") and parses the sample it answers.
func (c *child) sample(cmd string) (sample, error) {
	line, err := c.reply(cmd)
	if err != nil {
		return sample{}, err
	}
	var s sample
	if _, err := fmt.Sscanf(line, "sample %d %d %d %d %d", &s.rss, &s.heapInuse, &s.stackInuse, &s.goroutines, &s.sessions); err != nil {
		return sample{}, fmt.Errorf("child %q: bad sample %q: %w", cmd, line, err)
	}
	return s, nil
}

// stop closes the child's stdin, which makes it close its peer and exit,
// and waits for it.
func (c *child) stop() error {
	return errors.Join(c.in.Close(), c.cmd.Wait())
}
