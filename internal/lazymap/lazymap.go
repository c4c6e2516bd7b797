// Package lazymap holds a goutil.Map made on first use, safe for concurrent
// use: most sessions and sockets never store anything in their Public map,
// and an idle one should not pay for it.
package lazymap

import (
	"sync/atomic"

	"github.com/henrylee2cn/goutil"
)

type holder struct{ m goutil.Map }

// Map is a goutil.Map made on first use. The zero value is ready.
type Map struct {
	p atomic.Pointer[holder]
}

// Get returns the map, making it on the first call.
func (l *Map) Get() goutil.Map {
	if h := l.p.Load(); h != nil {
		return h.m
	}
	l.p.CompareAndSwap(nil, &holder{goutil.RwMap()})
	return l.p.Load().m
}

// Len returns the number of entries, 0 when the map was never made.
func (l *Map) Len() int {
	if h := l.p.Load(); h != nil {
		return h.m.Len()
	}
	return 0
}

// Reset forgets the map.
func (l *Map) Reset() { l.p.Store(nil) }
