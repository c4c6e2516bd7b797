package tp

import (
	"sync/atomic"
	"time"
)

// logEvery lets a log line through at most once per interval, so that a
// condition repeating under load (an exhausted pool, refused connections)
// cannot flood the log. The zero value allows one line a second.
type logEvery struct {
	interval time.Duration
	next     atomic.Int64 // Unix nanoseconds before which lines are dropped
}

// allow reports whether a line may be logged now.
func (l *logEvery) allow() bool {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next {
		return false
	}
	interval := l.interval
	if interval <= 0 {
		interval = time.Second
	}
	return l.next.CompareAndSwap(next, now+int64(interval))
}

// Rate-limited log lines, each about one condition of the whole process.
var (
	poolExhaustedLog   logEvery
	overloadLog        logEvery
	undeliveredPushLog logEvery
)
