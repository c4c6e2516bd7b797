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

	tp "github.com/teleport-go/teleport"
)

// The child speaks a line protocol on its stdin and stdout. It first
// prints "addr HOST:PORT NOFILE" (NOFILE: its RLIMIT_NOFILE soft limit,
// 0 if unknown), then answers each command:
//
//	rss        -> sample line, as the process stands
//	gc         -> runtime.GC and debug.FreeOSMemory, then a sample line
//	heap FILE  -> runtime.GC, pprof heap profile written to FILE, then "ok" or "err MESSAGE"
//
// A sample line is "sample RSS HEAPINUSE STACKINUSE GOROUTINES SESSIONS"
// (bytes, bytes, bytes, count, count). The child closes its peer and
// exits when stdin closes.

// Idle is the child's one controller; its route is /idle/ping.
type Idle struct {
	tp.PullCtx
}

// Ping answers its argument plus one.
func (*Idle) Ping(n *int) (int, *tp.Rerror) { return *n + 1, nil }

// sample is one reading of the child's memory.
type sample struct {
	rss        uint64 // VmRSS from /proc/self/status
	heapInuse  uint64 // runtime.MemStats.HeapInuse
	stackInuse uint64 // runtime.MemStats.StackInuse
	goroutines int
	sessions   int // server sessions open
}

// runChild is the child's main; it returns the exit status.
func runChild(in io.Reader, out io.Writer) int {
	if err := serveChild(in, out); err != nil {
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
	// One NOTICE line per session at shutdown would bury the report.
	tp.SetLoggerLevel("WARNING")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	peer := tp.NewPeer(nil)
	peer.PullRouter.Reg(new(Idle))
	served := make(chan error, 1)
	go func() { served <- peer.Serve(lis) }()
	stop := func(err error) error {
		return errors.Join(err, peer.Close(), <-served)
	}

	if _, err := fmt.Fprintf(out, "addr %s %d\n", lis.Addr(), nofile); err != nil {
		return stop(err)
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		var reply string
		switch cmd {
		case "rss", "gc":
			if cmd == "gc" {
				runtime.GC()
				debug.FreeOSMemory()
			}
			s, err := readSample(peer)
			if err != nil {
				reply = "err " + err.Error()
				break
			}
			reply = fmt.Sprintf("sample %d %d %d %d %d", s.rss, s.heapInuse, s.stackInuse, s.goroutines, s.sessions)
		case "heap":
			reply = "ok"
			if err := writeHeap(arg); err != nil {
				reply = "err " + err.Error()
			}
		default:
			reply = fmt.Sprintf("err unknown command %q", cmd)
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return stop(err)
		}
	}
	return stop(sc.Err())
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
	if path == "" {
		return errors.New("heap: no file named")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}
