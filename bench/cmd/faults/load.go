//go:build linux

package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	tp "github.com/teleport-go/teleport"
)

// call is one call's outcome: when it started and ended, and its error
// code (0: it succeeded).
type call struct {
	start, end time.Time
	code       int32
}

// load runs workers that call until stopped, each keeping its own record.
type load struct {
	name     string
	wg       sync.WaitGroup
	mu       sync.Mutex
	calls    []call
	stopped  chan struct{}
	stopOnce sync.Once
}

// startLoad starts workers goroutines that each call do in a loop until
// stop; do's context carries the deadline of each call when deadline > 0.
func startLoad(name string, workers int, deadline time.Duration, do func(ctx context.Context, arg string) *tp.Rerror) *load {
	l := &load{name: name, stopped: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var mine []call
			defer func() {
				l.mu.Lock()
				l.calls = append(l.calls, mine...)
				l.mu.Unlock()
			}()
			arg := fmt.Sprintf("worker %d", w)
			for {
				select {
				case <-l.stopped:
					return
				default:
				}
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if deadline > 0 {
					ctx, cancel = context.WithTimeout(ctx, deadline)
				}
				c := call{start: time.Now()}
				if rerr := do(ctx, arg); rerr != nil {
					c.code = rerr.Code
				}
				cancel()
				c.end = time.Now()
				mine = append(mine, c)
				if c.code != 0 {
					// A failed call comes back at once when the session
					// is closed: pace the retries of a dead session.
					select {
					case <-l.stopped:
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		}()
	}
	return l
}

// stop ends the load and returns how long its workers took to return,
// which is bounded by a call's deadline when nothing hangs. Calls after
// the first return 0.
func (l *load) stop() (took time.Duration) {
	l.stopOnce.Do(func() {
		t := time.Now()
		close(l.stopped)
		l.wg.Wait()
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
