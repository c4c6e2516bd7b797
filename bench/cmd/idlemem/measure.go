package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// fdReserve is the descriptors kept back from RLIMIT_NOFILE for what is
// not a session: stdio, pipes, the listener, the runtime's poller.
const fdReserve = 64

// config is one measurement.
type config struct {
	exe         string // binary to run with childFlag as either child
	sessions    int    // idle sessions to open
	batch       int    // sessions dialed (or pulled on) concurrently
	bigSize     int    // the second message's size in bytes; 0: none
	settle      time.Duration
	budgetKiB   float64   // RSS budget per session and side
	heapProfile string    // prefix of the children's heap profiles; empty: none
	log         io.Writer // progress and the children's stderr
}

// stage names the moments both children are sampled at.
type stage int

const (
	stageBase  stage = iota // started, before any session
	stageSmall              // every session open after one small pull
	stageBig                // after one pull of bigSize on every session
	stages
)

// side is one child's samples.
type side struct {
	name    string
	samples [stages]sample
}

// result is what a measurement found.
type result struct {
	asked    int // sessions asked for
	sessions int // sessions held
	bigSize  int
	dialTime time.Duration // dialing and the first pull on every session
	server   side
	client   side
}

// perSessionKiB is the growth of f from the base sample to stage st, per
// session, in KiB.
func (r result) perSessionKiB(s side, st stage, f func(sample) uint64) float64 {
	return (float64(f(s.samples[st])) - float64(f(s.samples[stageBase]))) / float64(r.sessions) / 1024
}

func rssOf(s sample) uint64   { return s.rss }
func heapOf(s sample) uint64  { return s.heapInuse }
func stackOf(s sample) uint64 { return s.stackInuse }

// write prints the report: per side and stage, the RSS per session with
// its heap and stack parts, and a PASS or FAIL line against budgetKiB.
func (r result) write(w io.Writer, budgetKiB float64) {
	kib := func(b uint64) string { return fmt.Sprintf("%.0f KiB", float64(b)/1024) }
	if r.sessions != r.asked {
		fmt.Fprintf(w, "sessions:   %d (of %d asked; RLIMIT_NOFILE)\n", r.sessions, r.asked)
	} else {
		fmt.Fprintf(w, "sessions:   %d, dialed with one small pull each in %v\n", r.sessions, r.dialTime.Round(time.Millisecond))
	}
	names := [stages]string{"baseline", "after a small pull", fmt.Sprintf("after a %s pull", sizeName(r.bigSize))}
	var verdicts []string
	for _, s := range []side{r.server, r.client} {
		fmt.Fprintf(w, "\n%s process:\n", s.name)
		for st := stageBase; st < stages; st++ {
			if st == stageBig && r.bigSize == 0 {
				continue
			}
			x := s.samples[st]
			fmt.Fprintf(w, "  %-22s RSS %s (heap in use %s, stacks %s), %d goroutines, %d sessions\n",
				names[st]+":", kib(x.rss), kib(x.heapInuse), kib(x.stackInuse), x.goroutines, x.sessions)
		}
		for st := stageSmall; st < stages; st++ {
			if st == stageBig && r.bigSize == 0 {
				continue
			}
			per := r.perSessionKiB(s, st, rssOf)
			fmt.Fprintf(w, "  per session, %-19s %.2f KiB RSS (heap %.2f KiB, stacks %.2f KiB, %.2f goroutines)\n",
				names[st]+":", per, r.perSessionKiB(s, st, heapOf), r.perSessionKiB(s, st, stackOf),
				float64(s.samples[st].goroutines-s.samples[stageBase].goroutines)/float64(r.sessions))
			verdict := "PASS"
			if per > budgetKiB {
				verdict = "FAIL"
			}
			verdicts = append(verdicts, fmt.Sprintf("%s: %s %s: %.2f KiB per idle session, budget %g KiB", verdict, s.name, names[st], per, budgetKiB))
		}
	}
	fmt.Fprintln(w)
	for _, v := range verdicts {
		fmt.Fprintln(w, v)
	}
}

// sizeName names a byte count (64 KiB, 100 B).
func sizeName(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// measure runs both children, samples them bare, opens the sessions,
// samples them after the small pull and after the big one, and stops
// them.
func measure(cfg config) (res result, err error) {
	res.asked, res.bigSize = cfg.sessions, cfg.bigSize
	res.server.name, res.client.name = "server", "client"

	srvCmd := exec.Command(cfg.exe, childFlag, "server")
	srvCmd.Stderr = cfg.log
	srv, hello, err := startChild(srvCmd)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	var addr string
	var srvNoFile uint64
	if _, err := fmt.Sscanf(hello, "addr %s %d", &addr, &srvNoFile); err != nil {
		return res, fmt.Errorf("server hello %q: %w", hello, err)
	}

	cliCmd := exec.Command(cfg.exe, childFlag, "client")
	cliCmd.Stderr = cfg.log
	cli, hello, err := startChild(cliCmd)
	if err != nil {
		return res, err
	}
	// Stopped before the server (defers run last-in first-out), so the
	// server's sessions end on EOF rather than on a reset.
	defer func() { err = errors.Join(err, cli.stop()) }()
	var cliNoFile uint64
	if _, err := fmt.Sscanf(hello, "ready %d", &cliNoFile); err != nil {
		return res, fmt.Errorf("client hello %q: %w", hello, err)
	}
	res.sessions = fitSessions(cfg, srvNoFile, cliNoFile)

	sampleBoth := func(st stage) error {
		var err1, err2 error
		res.server.samples[st], err1 = srv.sample("gc")
		res.client.samples[st], err2 = cli.sample("gc")
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if st != stageBase && (res.server.samples[st].sessions != res.sessions || res.client.samples[st].sessions != res.sessions) {
			return fmt.Errorf("server holds %d sessions and client %d, want %d",
				res.server.samples[st].sessions, res.client.samples[st].sessions, res.sessions)
		}
		return nil
	}
	if err := sampleBoth(stageBase); err != nil {
		return res, err
	}
	start := time.Now()
	if err := cli.command(fmt.Sprintf("dial %s %d %d", addr, res.sessions, cfg.batch), "ok"); err != nil {
		return res, err
	}
	res.dialTime = time.Since(start)
	fmt.Fprintf(cfg.log, "idlemem: %d sessions dialed and pulled in %v; idle for %v\n", res.sessions, res.dialTime.Round(time.Millisecond), cfg.settle)
	time.Sleep(cfg.settle)
	if err := sampleBoth(stageSmall); err != nil {
		return res, err
	}
	if cfg.bigSize > 0 {
		start := time.Now()
		if err := cli.command(fmt.Sprintf("pull %d %d", cfg.bigSize, cfg.batch), "ok"); err != nil {
			return res, err
		}
		fmt.Fprintf(cfg.log, "idlemem: one %s pull on each session in %v; idle for %v\n", sizeName(cfg.bigSize), time.Since(start).Round(time.Millisecond), cfg.settle)
		time.Sleep(cfg.settle)
		if err := sampleBoth(stageBig); err != nil {
			return res, err
		}
	}
	if cfg.heapProfile != "" {
		prefix, err := filepath.Abs(cfg.heapProfile)
		if err != nil {
			return res, err
		}
		for _, c := range []struct {
			name string
			ch   *child
		}{{"server", srv}, {"client", cli}} {
			path := prefix + "." + c.name
			if err := c.ch.command("heap "+path, "ok"); err != nil {
				return res, err
			}
			fmt.Fprintf(cfg.log, "idlemem: %s heap profile in %s\n", c.name, path)
		}
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

// child is a running child.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startChild starts cmd and returns its hello line.
func startChild(cmd *exec.Cmd) (*child, string, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("child gave no hello (read %q): %w", line, err), c.stop())
	}
	return c, strings.TrimSuffix(line, "\n"), nil
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
