// Command streambench measures teleport's streams beside raw TCP and a
// gRPC bidirectional stream, client and server in one process over
// loopback TCP:
//
//   - bulk: one stream carries -bulk bytes (1 GiB) in 64 KiB messages, one
//     way; the receiver reads and drops them. Reported in MiB/s.
//   - rate: one stream carries -rate-n 581-byte messages one way.
//     Reported in messages per second.
//   - memory: -streams streams (1 000) whose receivers stop reading; each
//     sender sends until its credit is spent. Reported: the heap and RSS
//     the process gained per stream, beside the window and a message.
//
// Messages are opaque bytes for every runner, so no codec work is
// measured. Each workload runs -rounds interleaved rounds of every runner;
// the table gives the median round.
//
//	go run ./cmd/streambench [-bulk 1073741824] [-rate-n 2000000] [-streams 1000] [-rounds 3]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

// runner is one way of carrying a one-way stream of messages.
type runner struct {
	name string
	// open starts a server whose receiving side calls recv for every
	// message, and returns a send function for one stream to it, a close
	// of that stream (the receiver has seen every message once it
	// returns), and a stop of the whole.
	open func(recv func([]byte)) (send func([]byte) error, closeSend func() error, stop func(), err error)
}

var runners = []runner{
	{"rawtcp", openRawTCP},
	{"teleport", openTeleport},
	{"grpc", openGRPC},
}

func main() {
	bulk := flag.Int64("bulk", 1<<30, "bytes of the bulk workload")
	bulkMsg := flag.Int("bulk-msg", 64<<10, "message size of the bulk workload")
	rateN := flag.Int("rate-n", 2_000_000, "messages of the rate workload")
	rateMsg := flag.Int("rate-msg", 581, "message size of the rate workload")
	streams := flag.Int("streams", 1000, "streams of the memory workload")
	rounds := flag.Int("rounds", 3, "interleaved rounds per workload")
	only := flag.String("only", "", "comma-separated runners (default all: rawtcp, teleport, grpc)")
	flag.IntVar(&sinkWindow, "window", 0, "teleport's receive window in bytes, fixed (0: tp.DefaultStreamWindow, 256 KiB, growing to -window-max)")
	flag.IntVar(&sinkWindowMax, "window-max", 0, "how far teleport's default receive window grows: PeerConfig.StreamWindowMax (0: its default, 4 MiB; -1: no growth)")
	cpuOut := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuOut != "" {
		f, err := os.Create(*cpuOut)
		if err != nil {
			fmt.Fprintln(os.Stderr, "streambench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "streambench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	selected := runners
	if *only != "" {
		selected = nil
		for _, r := range runners {
			if slices.Contains(strings.Split(*only, ","), r.name) {
				selected = append(selected, r)
			}
		}
	}
	fmt.Printf("GOMAXPROCS %d, %s/%s, %s; client and server in one process, loopback TCP\n\n", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if *bulk > 0 {
		table("bulk: "+sizeName(*bulk)+" in "+sizeName(int64(*bulkMsg))+" messages", "MiB/s", selected, *rounds, func(r runner) (float64, error) {
			d, err := oneWay(r, *bulkMsg, int(*bulk/int64(*bulkMsg)))
			return float64(*bulk) / (1 << 20) / d.Seconds(), err
		})
	}
	if *rateN > 0 {
		table(fmt.Sprintf("rate: %d messages of %d bytes", *rateN, *rateMsg), "messages/s", selected, *rounds, func(r runner) (float64, error) {
			d, err := oneWay(r, *rateMsg, *rateN)
			return float64(*rateN) / d.Seconds(), err
		})
	}
	if *streams > 0 {
		if err := memory(*streams); err != nil {
			fmt.Fprintln(os.Stderr, "streambench: memory:", err)
			os.Exit(1)
		}
	}
}

// table runs measure for every runner, rounds times interleaved, and
// prints the median of each with its ratio to the others.
func table(title, unit string, rs []runner, rounds int, measure func(runner) (float64, error)) {
	results := make(map[string][]float64)
	for range rounds {
		for _, r := range rs {
			v, err := measure(r)
			if err != nil {
				fmt.Fprintf(os.Stderr, "streambench: %s, %s: %v\n", title, r.name, err)
				os.Exit(1)
			}
			results[r.name] = append(results[r.name], v)
		}
	}
	fmt.Printf("%s (median of %d rounds)\n\n| runner | %s | rounds | / rawtcp | / grpc |\n|---|---:|---|---:|---:|\n", title, rounds, unit)
	median := func(name string) float64 {
		v := slices.Clone(results[name])
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, r := range rs {
		m := median(r.name)
		var all []string
		for _, v := range results[r.name] {
			all = append(all, fmt.Sprintf("%.0f", v))
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s |\n", r.name, m, strings.Join(all, ", "), ratio(m, median("rawtcp")), ratio(m, median("grpc")))
	}
	fmt.Println()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// oneWay sends n messages of size bytes over one stream of r and returns
// the time from the first send to the receiver's last message.
func oneWay(r runner, size, n int) (time.Duration, error) {
	var got int
	send, closeSend, stop, err := r.open(func(b []byte) {
		got++
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	runtime.GC()
	start := time.Now()
	for range n {
		if err := send(msg); err != nil {
			return 0, err
		}
	}
	if err := closeSend(); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if got != n {
		return 0, fmt.Errorf("%d messages received, want %d", got, n)
	}
	return d, nil
}

// openRawTCP is the floor: length-prefixed messages written to a TCP
// connection through a 64 KiB buffer and read by a goroutine.
func openRawTCP(recv func([]byte)) (func([]byte) error, func() error, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	done := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		r := newReader(c)
		for {
			b, err := r.next()
			if err == io.EOF {
				done <- nil
				return
			} else if err != nil {
				done <- err
				return
			}
			recv(b)
		}
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		lis.Close()
		return nil, nil, nil, err
	}
	w := newWriter(c)
	closeSend := func() error {
		if err := w.flush(); err != nil {
			return err
		}
		_ = c.(*net.TCPConn).CloseWrite()
		return <-done
	}
	stop := func() { c.Close(); lis.Close() }
	return w.write, closeSend, stop, nil
}

type writer struct {
	c   net.Conn
	buf []byte
}

func newWriter(c net.Conn) *writer { return &writer{c: c, buf: make([]byte, 0, 64<<10)} }

func (w *writer) write(b []byte) error {
	if len(w.buf)+4+len(b) > cap(w.buf) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if 4+len(b) > cap(w.buf) {
		var h [4]byte
		binary.BigEndian.PutUint32(h[:], uint32(len(b)))
		bufs := net.Buffers{h[:], b}
		_, err := bufs.WriteTo(w.c)
		return err
	}
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(b)))
	w.buf = append(w.buf, b...)
	return nil
}

func (w *writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.c.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

type reader struct {
	c    net.Conn
	buf  []byte
	r, w int
}

func newReader(c net.Conn) *reader { return &reader{c: c, buf: make([]byte, 256<<10)} }

// next returns the next message, valid until the next call.
func (r *reader) next() ([]byte, error) {
	if err := r.fill(4); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(r.buf[r.r:]))
	if err := r.fill(4 + n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b := r.buf[r.r+4 : r.r+4+n]
	r.r += 4 + n
	return b, nil
}

func (r *reader) fill(n int) error {
	for r.w-r.r < n {
		if r.r > 0 {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		}
		if n > len(r.buf) {
			r.buf = append(r.buf, make([]byte, n-len(r.buf))...)
		}
		m, err := r.c.Read(r.buf[r.w:])
		r.w += m
		if err != nil && r.w-r.r < n {
			return err
		}
	}
	return nil
}

// memory opens streams teleport streams whose handlers stop reading, has
// each opener send until it has no credit, and reports the heap and RSS
// gained per stream.
func memory(streams int) error {
	res, err := measureMemory(streams)
	if err != nil {
		return err
	}
	fmt.Printf("memory: %d streams whose receivers stopped reading, window %s, %s messages; heap and RSS per stream over the process before, sender and receiver both in it\n\n", streams, sizeName(int64(res.window)), sizeName(int64(res.msg)))
	fmt.Printf("| messages sent per stream | heap per stream | RSS per stream | window + one message |\n|---:|---:|---:|---:|\n")
	fmt.Printf("| %.1f | %s | %s | %s |\n\n", res.msgsPerStream, sizeName(int64(res.heapPer)), sizeName(int64(res.rssPer)), sizeName(int64(res.window+res.msg)))
	return nil
}

// rss returns the process's resident set size.
func rss() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, err
	}
	return resident * uint64(syscall.Getpagesize()), nil
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
