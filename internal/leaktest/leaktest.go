// Package leaktest wraps goleak for the packages of teleport: it knows the
// goroutines that legitimately outlive a test, those of goutil's goroutine
// pool and clock, so that every other leftover goroutine fails the run.
package leaktest

import (
	"testing"

	"go.uber.org/goleak"
)

// Options ignores the process-wide goroutines of goutil: idle workers of the
// goroutine pool, its idle-worker cleaner, and the coarse clock's ticker.
// A worker running a function is not idle, so a leaked read loop or handler
// is still reported.
func Options() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/henrylee2cn/goutil/pool.(*GoPool).goroutineFunc"),
		goleak.IgnoreAnyFunction("github.com/henrylee2cn/goutil/pool.(*GoPool).start.func1"),
		goleak.IgnoreAnyFunction("github.com/henrylee2cn/goutil/coarsetime.init.0.func1"),
	}
}

// VerifyTestMain runs the tests, then fails if goroutines were leaked.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, Options()...)
}
