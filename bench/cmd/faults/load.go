//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	tp "github.com/teleport-go/teleport"
	benchload "github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/pb"
)

// call is one call's outcome: when it started and ended, and its error
// code (0: it succeeded; -1: an error that is not a *tp.Rerror).
type call struct {
	start, end time.Time
	code       int32
}

// caller makes one call of a load with the load tool's request (the
// benchmark's 581-byte message) into its reply; ctx carries the call's
// deadline, if any.
type caller func(ctx context.Context, req, reply *pb.BenchmarkMessage) *tp.Rerror

// load is the load tool's driver (internal/load, as cmd/load and compare
// run it) making calls until stopped, with every call's outcome recorded
// by its goroutine.
type load struct {
	name      string
	stopped   chan struct{}
	done      chan struct{}
	perWorker [][]call
	calls     []call // merged by stop, sorted by end
	stopOnce  sync.Once
}

// loadClient is a caller as the driver's client.
type loadClient struct {
	deadline time.Duration
	do       caller
}

func (c loadClient) Call(_ int, req, reply *pb.BenchmarkMessage) error {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if c.deadline > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.deadline)
	}
	defer cancel()
	return c.do(ctx, req, reply).ToError()
}

func (loadClient) Close() error { return nil }

// startLoad starts workers goroutines calling do until stop; each call's
// context carries deadline when it is > 0.
func startLoad(name string, workers int, deadline time.Duration, do caller) *load {
	l := &load{name: name, stopped: make(chan struct{}), done: make(chan struct{}), perWorker: make([][]call, workers)}
	go func() {
		defer close(l.done)
		benchload.Run(loadClient{deadline, do}, benchload.Config{Concurrency: workers, Stop: l.stopped, OnCall: l.record})
	}()
	return l
}

// record notes a call in goroutine i's own record.
func (l *load) record(i int, start, end time.Time, err error) {
	c := call{start: start, end: end}
	if err != nil {
		c.code = -1
		var rerr *tp.Rerror
		if errors.As(err, &rerr) {
			c.code = rerr.Code
		}
	}
	l.perWorker[i] = append(l.perWorker[i], c)
	if err != nil {
		// A failed call comes back at once when the session is closed:
		// pace the calls of a dead session.
		select {
		case <-l.stopped:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop ends the load and returns how long its workers took to return,
// which is bounded by a call's deadline when nothing hangs. Calls after
// the first return 0.
func (l *load) stop() (took time.Duration) {
	l.stopOnce.Do(func() {
		t := time.Now()
		close(l.stopped)
		<-l.done
		for _, w := range l.perWorker {
			l.calls = append(l.calls, w...)
		}
		sort.Slice(l.calls, func(i, j int) bool { return l.calls[i].end.Before(l.calls[j].end) })
		took = time.Since(t)
	})
	return took
}

// counts returns the calls made and failed, and the failures by code.
func (l *load) counts() (calls, failed int, why string) {
	byCode := map[int32]int{}
	for _, c := range l.calls {
		if c.code != 0 {
			failed++
			byCode[c.code]++
		}
	}
	return len(l.calls), failed, codes(byCode)
}

// codes formats failures by code: "3× 408 deadline, 1× 102 conn closed".
func codes(byCode map[int32]int) string {
	var parts []string
	for code, n := range byCode {
		parts = append(parts, fmt.Sprintf("%d× %d %s", n, code, codeName(code)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// firstFailure returns how long after t the first call ending after t
// failed; ok false when none did.
func (l *load) firstFailure(t time.Time) (time.Duration, bool) {
	for _, c := range l.calls {
		if c.end.After(t) && c.code != 0 {
			return c.end.Sub(t), true
		}
	}
	return 0, false
}

// firstSuccess returns how long after t the first call that started after
// t succeeded; ok false when none did.
func (l *load) firstSuccess(t time.Time) (time.Duration, bool) {
	for _, c := range l.calls {
		if c.start.After(t) && c.code == 0 {
			return c.end.Sub(t), true
		}
	}
	return 0, false
}

// quantile returns the q-quantile of the latencies of the calls that
// started in [from, to) and succeeded, and how many there were.
func (l *load) quantile(q float64, from, to time.Time) (time.Duration, int) {
	var lat []time.Duration
	for _, c := range l.calls {
		if c.code == 0 && !c.start.Before(from) && c.start.Before(to) {
			lat = append(lat, c.end.Sub(c.start))
		}
	}
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, int(q*float64(len(lat))))], len(lat)
}

// overshoot returns the most a failed call outlived deadline.
func (l *load) overshoot(deadline time.Duration) time.Duration {
	var most time.Duration
	for _, c := range l.calls {
		if c.code != 0 {
			most = max(most, c.end.Sub(c.start)-deadline)
		}
	}
	return most
}

func codeName(code int32) string {
	switch code {
	case tp.CodeConnClosed:
		return "conn closed"
	case tp.CodeDialFailed:
		return "dial failed"
	case tp.CodeHandleTimeout:
		return "deadline"
	case tp.CodeServiceUnavailable:
		return "unavailable"
	case tp.CodeWriteFailed:
		return "write failed"
	}
	return "error"
}
