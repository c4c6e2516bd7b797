package tp

import (
	"sync/atomic"
	"time"

	"github.com/henrylee2cn/goutil/pool"
)

// The goroutine pool runs every handler: reusing goroutines keeps their
// stacks warm, and SetGopool bounds how many a flood of messages can start.
// Reading does not run on it: a session waiting for its next frame on a
// bounded pool would let a few idle connections starve every other session
// of handlers, or of reading at all.
var gopool atomic.Pointer[pool.GoPool]

// Defaults of the goroutine pool.
const (
	DefaultMaxGoroutinesAmount      = 1024 * 1024
	DefaultMaxGoroutineIdleDuration = 10 * time.Second
)

// readPool runs the reading of frames that have arrived, for sessions
// woken by the peer's poller (see park) and for read loops that only wait
// (see session.readBusy). Its size is not bounded by SetGopool: a reader
// may wait there for a handler of the pool, which must not be kept from
// running by readers. Its idle duration is SetGopool's, like every pool the
// library keeps.
var readPool atomic.Pointer[pool.GoPool]

func init() {
	gopool.Store(pool.NewGoPool(DefaultMaxGoroutinesAmount, DefaultMaxGoroutineIdleDuration))
	readPool.Store(pool.NewGoPool(DefaultMaxGoroutinesAmount, DefaultMaxGoroutineIdleDuration))
}

// SetGopool replaces the goroutine pool of handlers; 0 for either value
// keeps its default. maxGoroutineIdleDuration also governs the read pool:
// an idle goroutine of either ends after about that long (at most twice
// it). Functions already running finish on the old pools.
func SetGopool(maxGoroutinesAmount int, maxGoroutineIdleDuration time.Duration) {
	if maxGoroutinesAmount <= 0 {
		maxGoroutinesAmount = DefaultMaxGoroutinesAmount
	}
	if maxGoroutineIdleDuration <= 0 {
		maxGoroutineIdleDuration = DefaultMaxGoroutineIdleDuration
	}
	gopool.Swap(pool.NewGoPool(maxGoroutinesAmount, maxGoroutineIdleDuration)).Stop()
	readPool.Swap(pool.NewGoPool(DefaultMaxGoroutinesAmount, maxGoroutineIdleDuration)).Stop()
}

// goRead runs fn on a goroutine of the read pool, or on a new goroutine
// when the pool has none to give.
func goRead(fn func()) {
	if readPool.Load().Go(fn) != nil {
		go fn()
	}
}

// Go runs fn on a pooled goroutine. It returns false when the pool is
// exhausted, and then logs a WARNING (at most one a second).
func Go(fn func()) bool {
	if err := gopool.Load().Go(fn); err != nil {
		if poolExhaustedLog.allow() {
			Warnf("tp: goroutine pool: %v (at most one such line a second)", err)
		}
		return false
	}
	return true
}

// goHandler is Go for the framework's handlers: the caller waits and
// retries, so the pool being full is not worth a line each time.
func goHandler(fn func()) bool {
	return gopool.Load().Go(fn) == nil
}

// AnywayGo runs fn on a pooled goroutine, waiting for one to be free.
func AnywayGo(fn func()) {
	for i := 0; !Go(fn); i++ {
		time.Sleep(time.Duration(min(i+1, 100)) * time.Millisecond)
	}
}
