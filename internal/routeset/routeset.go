// Package routeset keeps the route names a peer registered, learnt from
// the PostReg hook, for plugins that label or name things by route: a
// remote peer's arbitrary paths then map to one "unmatched" value instead of
// creating new series or span names at will.
package routeset

import (
	"strings"
	"sync"
	"sync/atomic"

	tp "github.com/teleport-go/teleport"
)

// Set holds registered route names. Lookups load a map without locking or
// allocating; registrations, rare, copy it. The zero value is empty.
type Set struct {
	// mu serialises Add.
	mu   sync.Mutex
	pull atomic.Pointer[map[string]struct{}]
	push atomic.Pointer[map[string]struct{}]
}

// Add records the route of h; unknown handlers, which serve any path, are
// skipped.
func (r *Set) Add(h *tp.Handler) {
	if h.IsUnknown() || h.IsStream() {
		return // streams are refused unless routed: their paths are labels as they are
	}
	set := &r.push
	if h.IsPull() {
		set = &r.pull
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]struct{}{}
	if old := set.Load(); old != nil {
		m = make(map[string]struct{}, len(*old)+1)
		for k := range *old {
			m[k] = struct{}{}
		}
	}
	m[h.Name()] = struct{}{}
	set.Store(&m)
}

// Unmatched is the label of a received pull or push whose path is no
// registered route.
const Unmatched = "<unmatched>"

// Path returns uri without its query.
func Path(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// Label returns the path of uri if it is a registered pull (or push)
// route, unmatched otherwise.
func (r *Set) Label(pull bool, uri, unmatched string) string {
	path := Path(uri)
	set := r.push.Load()
	if pull {
		set = r.pull.Load()
	}
	if set != nil {
		if _, ok := (*set)[path]; ok {
			return path
		}
	}
	return unmatched
}
