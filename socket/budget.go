package socket

import "sync/atomic"

// FrameBudget bounds the memory held by the frames being read, not yet
// whole, across every socket it is given to (SetFrameBudget; a peer gives
// one to all its connections). A frame that fits the read-ahead buffer
// needs none of it; a larger one takes from it each time its buffer grows,
// and gives it all back once decoded. When a frame would pass the budget,
// its read fails with ErrFrameBudget and the connection it came on ends:
// N connections sending large frames slowly cannot hold N times the
// packet size limit.
type FrameBudget struct {
	limit int64
	used  atomic.Int64
}

// NewFrameBudget returns a budget of limit bytes; limit <= 0 returns nil,
// no budget.
func NewFrameBudget(limit int64) *FrameBudget {
	if limit <= 0 {
		return nil
	}
	return &FrameBudget{limit: limit}
}

// Limit returns the budget's size in bytes.
func (b *FrameBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// InUse returns the bytes taken by frames being read.
func (b *FrameBudget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// take takes n bytes, reporting whether they were there; a nil budget has
// any.
func (b *FrameBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// give gives back n bytes taken.
func (b *FrameBudget) give(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}
