//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/plugin/discovery/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// serveEnv, set to the address clients dial, makes this binary the server
// child of a scenario (run inside its namespace by ip netns exec). It
// listens on that port on every address of its namespace, which has only
// the links the scenario made.
const serveEnv = "TPFAULTS_SERVE"

// etcdEnv, set to an etcd endpoint, makes the server register there as
// service etcdService, under the address in advertiseEnv.
const (
	etcdEnv      = "TPFAULTS_ETCD"
	advertiseEnv = "TPFAULTS_ADVERTISE"
	etcdService  = "faults"
	// etcdTTL is the registration's lease: how long a crashed server
	// stays listed.
	etcdTTL = 2 * time.Second
)

// benchRoute is the load tool's route: runner.Hello.Say answers the
// benchmark's message, stamped.
const benchRoute = "/hello/say"

// Subscription is what a client asks of Feed.Subscribe: pushes of Size
// bytes from Pushers goroutines until the session ends, every write
// bounded by WriteTimeout (0: none).
type Subscription struct {
	Name         string
	Size         int
	Pushers      int
	WriteTimeout time.Duration
}

// Feed is the servers' pushing side: pushes to subscribers, a stream
// that sends as fast as its credit allows, and the figures of both.
type Feed struct{ tp.PullCtx }

// Subscribe starts the pushers of a subscription and returns at once.
func (f *Feed) Subscribe(s *Subscription) (string, *tp.Rerror) {
	if s.Size <= 0 || s.Pushers <= 0 {
		return "", tp.NewRerror(tp.CodeBadPacket, "Bad Packet", "size and pushers must be positive")
	}
	sess := f.Session()
	if s.WriteTimeout > 0 {
		sess.SetWriteTimeout(s.WriteTimeout)
	}
	stats := feed.subscriber(s.Name)
	payload := strings.Repeat("x", s.Size)
	stats.running.Add(int32(s.Pushers))
	for range s.Pushers {
		go func() {
			defer stats.running.Add(-1)
			for sess.IsOk() {
				start := time.Now()
				rerr := sess.Push("/tick/bytes", payload)
				stats.note(time.Since(start), rerr)
			}
		}()
	}
	return "subscribed", nil
}

// Stats returns the figures since the last Stats call with reset true.
func (f *Feed) Stats(reset *bool) (*FeedStats, *tp.Rerror) {
	return feed.snapshot(*reset), nil
}

// Flood is the servers' stream controller.
type Flood struct{ tp.StreamCtx }

// Out sends messages of *size bytes until the stream ends.
func (f *Flood) Out(size *int) *tp.Rerror {
	payload := strings.Repeat("y", max(*size, 1))
	for {
		if err := f.Send(payload); err != nil {
			return nil
		}
		feed.streamSent.Add(1)
	}
}

// FeedStats are a server's figures: the live Go heap's peak and base since
// the last reset (sampled every 10 ms), the pushes of each subscriber, and the
// stream messages sent.
type FeedStats struct {
	HeapBase, HeapPeak uint64
	Subscribers        map[string]PushStats
	StreamSent         int64
}

// PushStats are one subscriber's pushes: those written, those failed with
// their codes, the longest a push waited, written or failed, and the
// pushers still running.
type PushStats struct {
	Running       int32
	OK, Failed    int
	Codes         map[int32]int
	MaxOK, MaxErr time.Duration
}

// feedState holds a server process's figures; the sampler goroutine owns
// the heap fields' updates, the pushers their subscriber's.
type feedState struct {
	mu          sync.Mutex
	heapBase    uint64
	heapPeak    uint64
	subscribers map[string]*pushRecord
	streamSent  atomic.Int64
}

type pushRecord struct {
	running atomic.Int32
	mu      sync.Mutex
	PushStats
}

func (r *pushRecord) note(d time.Duration, rerr *tp.Rerror) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rerr == nil {
		r.OK++
		r.MaxOK = max(r.MaxOK, d)
		return
	}
	r.Failed++
	r.Codes[rerr.Code]++
	r.MaxErr = max(r.MaxErr, d)
}

var feed = &feedState{subscribers: map[string]*pushRecord{}}

func (s *feedState) subscriber(name string) *pushRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.subscribers[name]
	if r == nil {
		r = &pushRecord{PushStats: PushStats{Codes: map[int32]int{}}}
		s.subscribers[name] = r
	}
	return r
}

// heapBytes reads the bytes of the heap objects the last collection found
// live: what the process holds, without the garbage of its allocation
// rate.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

func (s *feedState) sample() {
	for range time.Tick(10 * time.Millisecond) {
		h := heapBytes()
		s.mu.Lock()
		s.heapPeak = max(s.heapPeak, h)
		s.mu.Unlock()
	}
}

func (s *feedState) snapshot(reset bool) *FeedStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &FeedStats{HeapBase: s.heapBase, HeapPeak: s.heapPeak, StreamSent: s.streamSent.Load(), Subscribers: map[string]PushStats{}}
	for name, r := range s.subscribers {
		r.mu.Lock()
		ps := r.PushStats
		ps.Running = r.running.Load()
		ps.Codes = map[int32]int{}
		for c, n := range r.Codes {
			ps.Codes[c] = n
		}
		r.mu.Unlock()
		out.Subscribers[name] = ps
	}
	if reset {
		s.heapBase = heapBytes()
		s.heapPeak = s.heapBase
	}
	return out
}

// serve listens on addr's port, prints "ready", and serves until SIGTERM
// (a graceful Close) or SIGKILL.
func serve(addr string) error {
	tp.SetLoggerLevel("ERROR")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	var plugins []tp.Plugin
	if endpoint := os.Getenv(etcdEnv); endpoint != "" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer cli.Close()
		advertise := os.Getenv(advertiseEnv)
		plugins = append(plugins, etcd.NewRegistry(cli, etcd.Config{
			Service: etcdService, TTL: etcdTTL,
			Advertise: func(net.Addr) string { return advertise },
		}))
	}
	peer := tp.NewPeer(nil, plugins...)
	peer.PullRouter.Reg(new(runner.Hello))
	peer.PullRouter.Reg(new(Feed))
	peer.StreamRouter.Reg(new(Flood))
	lis, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", port))
	if err != nil {
		return err
	}
	go feed.sample()
	done := make(chan error, 1)
	go func() { done <- peer.Serve(lis) }()
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case <-sig:
		return peer.Close()
	case err := <-done:
		return err
	}
}
