package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"

	tp "github.com/teleport-go/teleport"
)

// The two children speak a line protocol on their stdin and stdout. Each
// first prints a hello line, then answers each command with one line:
//
//	server hello: "addr HOST:PORT NOFILE"; client hello: "ready NOFILE"
//	(NOFILE: the RLIMIT_NOFILE soft limit now in force, 0 if unknown)
//	rss              -> sample line, as the process stands
//	gc               -> runtime.GC and debug.FreeOSMemory, then a sample line
//	heap FILE        -> runtime.GC, a pprof heap profile written to FILE, "ok"
//	dial ADDR N B    -> (client) N sessions dialed to ADDR, B at a time, one
//	                    pull of a small body on each: "ok"
//	pull SIZE B      -> (client) one pull of a SIZE-byte body on every
//	                    session, B at a time: "ok"
//
// A sample line is "sample RSS HEAPINUSE STACKINUSE GOROUTINES SESSIONS"
// (bytes, bytes, bytes, count, count); a failure is "err MESSAGE". A
// child closes its peer and exits when stdin closes.

// Echo is the server's controller; its route is /echo/bytes.
type Echo struct {
	tp.PullCtx
}

// Bytes answers with its argument.
func (*Echo) Bytes(b *[]byte) ([]byte, *tp.Rerror) { return *b, nil }

// newPeer makes either side's peer: no session limit (the measurement
// holds more than DefaultMaxSessions), string bodies so that a 64 KiB
// body is 64 KiB on the wire, logging at WARNING so that closing thousands
// of sessions does not print a line each.
func newPeer() *tp.Peer {
	tp.SetLoggerLevel("WARNING")
	return tp.NewPeer(&tp.PeerConfig{MaxSessions: -1, DefaultBodyCodec: "string"})
}

// sample is one reading of a child's memory.
type sample struct {
	rss        uint64 // VmRSS from /proc/self/status
	heapInuse  uint64 // runtime.MemStats.HeapInuse
	stackInuse uint64 // runtime.MemStats.StackInuse
	goroutines int
	sessions   int // sessions the child's peer holds
}

// runChild is a child's main; role is "server" or "client". It returns
// the exit status.
func runChild(role string, in io.Reader, out io.Writer) int {
	var err error
	switch role {
	case "server":
		err = serveChild(in, out)
	case "client":
		err = clientChild(in, out)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "idlemem child:", err)
		return 1
	}
	return 0
}

func serveChild(in io.Reader, out io.Writer) error {
	nofile, err := raiseNoFile()
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	peer := newPeer()
	peer.PullRouter.Reg(new(Echo))
	served := make(chan error, 1)
	go func() { served <- peer.Serve(lis) }()
	err = commandLoop(peer, fmt.Sprintf("addr %s %d", lis.Addr(), nofile), in, out, nil)
	return errors.Join(err, peer.Close(), <-served)
}

func clientChild(in io.Reader, out io.Writer) error {
	nofile, err := raiseNoFile()
	if err != nil {
		return err
	}
	peer := newPeer()
	var sessions []tp.Session
	extra := func(cmd string, args []string) (string, error) {
		switch cmd {
		case "dial":
			if len(args) != 3 {
				return "", errors.New("dial wants ADDR N BATCH")
			}
			n, err1 := strconv.Atoi(args[1])
			batch, err2 := strconv.Atoi(args[2])
			if err := errors.Join(err1, err2); err != nil {
				return "", err
			}
			s, err := dialAll(peer, args[0], n, batch)
			sessions = append(sessions, s...)
			return "ok", err
		case "pull":
			if len(args) != 2 {
				return "", errors.New("pull wants SIZE BATCH")
			}
			size, err1 := strconv.Atoi(args[0])
			batch, err2 := strconv.Atoi(args[1])
			if err := errors.Join(err1, err2); err != nil {
				return "", err
			}
			return "ok", pullAll(sessions, size, batch)
		}
		return "", fmt.Errorf("unknown command %q", cmd)
	}
	err = commandLoop(peer, fmt.Sprintf("ready %d", nofile), in, out, extra)
	return errors.Join(err, peer.Close())
}

// commandLoop prints hello, then answers commands until in closes; extra
// handles the commands of one role.
func commandLoop(peer *tp.Peer, hello string, in io.Reader, out io.Writer, extra func(cmd string, args []string) (string, error)) error {
	if _, err := fmt.Fprintln(out, hello); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		cmd, args := fields[0], fields[1:]
		var reply string
		var err error
		switch cmd {
		case "rss", "gc":
			if cmd == "gc" {
				runtime.GC()
				debug.FreeOSMemory()
			}
			var s sample
			if s, err = readSample(peer); err == nil {
				reply = fmt.Sprintf("sample %d %d %d %d %d", s.rss, s.heapInuse, s.stackInuse, s.goroutines, s.sessions)
			}
		case "heap":
			if len(args) != 1 {
				err = errors.New("heap wants FILE")
				break
			}
			reply, err = "ok", writeHeap(args[0])
		default:
			if extra == nil {
				err = fmt.Errorf("unknown command %q", cmd)
				break
			}
			reply, err = extra(cmd, args)
		}
		if err != nil {
			reply = "err " + strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return err
		}
	}
	return sc.Err()
}

// dialAll opens n sessions to addr, batch at a time, and makes one pull
// of a small body on each, so that each is fully set up on both ends.
func dialAll(peer *tp.Peer, addr string, n, batch int) ([]tp.Session, error) {
	sessions := make([]tp.Session, n)
	err := inBatches(n, batch, func(i int) error {
		sess, rerr := peer.Dial(addr)
		if rerr != nil {
			return fmt.Errorf("dial %s: %w", addr, rerr.ToError())
		}
		sessions[i] = sess
		return pullOne(sess, []byte(strconv.Itoa(i)))
	})
	var open []tp.Session
	for _, s := range sessions {
		if s != nil {
			open = append(open, s)
		}
	}
	return open, err
}

// pullAll makes one pull of a size-byte body on every session.
func pullAll(sessions []tp.Session, size, batch int) error {
	body := bytes.Repeat([]byte{'m'}, size)
	return inBatches(len(sessions), batch, func(i int) error {
		return pullOne(sessions[i], body)
	})
}

func pullOne(sess tp.Session, body []byte) error {
	var reply []byte
	if rerr := sess.Pull("/echo/bytes", &body, &reply).Rerror(); rerr != nil {
		return fmt.Errorf("pull of %d bytes: %w", len(body), rerr.ToError())
	}
	if !bytes.Equal(reply, body) {
		return fmt.Errorf("pull of %d bytes: %d bytes came back, not the same", len(body), len(reply))
	}
	return nil
}

// inBatches runs fn(0) … fn(n-1), batch at a time concurrently, and stops
// after the first batch with an error.
func inBatches(n, batch int, fn func(i int) error) error {
	batch = max(batch, 1)
	for done := 0; done < n; {
		k := min(batch, n-done)
		errs := make([]error, k)
		var wg sync.WaitGroup
		for j := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = fn(done + j)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("after %d: %w", done, err)
		}
		done += k
	}
	return nil
}

func readSample(peer *tp.Peer) (sample, error) {
	rss, err := vmRSS()
	if err != nil {
		return sample{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return sample{
		rss:        rss,
		heapInuse:  ms.HeapInuse,
		stackInuse: ms.StackInuse,
		goroutines: runtime.NumGoroutine(),
		sessions:   peer.CountSession(),
	}, nil
}

// vmRSS returns the process's resident set size in bytes.
func vmRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		kb, ok := bytes.CutSuffix(bytes.TrimSpace(rest), []byte(" kB"))
		if !ok {
			return 0, fmt.Errorf("VmRSS line %q not in kB", line)
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(kb)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", line, err)
		}
		return n * 1024, nil
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}
