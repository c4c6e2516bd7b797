package tp

import (
	"sync/atomic"
	"time"

	"github.com/henrylee2cn/goutil/pool"
)

// The goroutine pool runs every read loop and every handler: reusing
// goroutines keeps their stacks warm and bounds how many a flood of
// connections or messages can start.
var gopool atomic.Pointer[pool.GoPool]

// Defaults of the goroutine pool.
const (
	DefaultMaxGoroutinesAmount      = 1024 * 1024
	DefaultMaxGoroutineIdleDuration = 10 * time.Second
)

func init() {
	gopool.Store(pool.NewGoPool(DefaultMaxGoroutinesAmount, DefaultMaxGoroutineIdleDuration))
}

// SetGopool replaces the goroutine pool; 0 for either value keeps its
// default. Functions already running finish on the old pool.
func SetGopool(maxGoroutinesAmount int, maxGoroutineIdleDuration time.Duration) {
	if maxGoroutinesAmount <= 0 {
		maxGoroutinesAmount = DefaultMaxGoroutinesAmount
	}
	if maxGoroutineIdleDuration <= 0 {
		maxGoroutineIdleDuration = DefaultMaxGoroutineIdleDuration
	}
	old := gopool.Swap(pool.NewGoPool(maxGoroutinesAmount, maxGoroutineIdleDuration))
	old.Stop()
}

// Go runs fn on a pooled goroutine. It returns false, and logs a WARNING,
// when the pool is exhausted.
func Go(fn func()) bool {
	if err := gopool.Load().Go(fn); err != nil {
		Warnf("tp: goroutine pool: %v", err)
		return false
	}
	return true
}

// AnywayGo runs fn on a pooled goroutine, waiting for one to be free.
func AnywayGo(fn func()) {
	for i := 0; !Go(fn); i++ {
		time.Sleep(time.Duration(min(i+1, 100)) * time.Millisecond)
	}
}
