package tracing

import (
	"strings"
	"sync"
	"sync/atomic"

	tp "github.com/teleport-go/teleport"
)

// Unmatched is the name of the server span of a received pull or push
// whose path is no registered route.
const Unmatched = "<unmatched>"

// routeSet holds the registered route names, learnt from PostReg, so that
// server span names are few whatever paths remote peers send. Lookups
// load a map without locking or allocating; registrations, rare, copy it.
type routeSet struct {
	// mu serialises add.
	mu   sync.Mutex
	pull atomic.Pointer[map[string]struct{}]
	push atomic.Pointer[map[string]struct{}]
}

func (r *routeSet) add(h *tp.Handler) {
	if h.IsUnknown() {
		return // it serves any path: no one label
	}
	set := &r.push
	if h.IsPull() {
		set = &r.pull
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := set.Load()
	m := make(map[string]struct{}, 1)
	if old != nil {
		m = make(map[string]struct{}, len(*old)+1)
		for k := range *old {
			m[k] = struct{}{}
		}
	}
	m[h.Name()] = struct{}{}
	set.Store(&m)
}

// label returns path if it is a registered route, Unmatched otherwise.
func (r *routeSet) label(pull bool, path string) string {
	set := r.push.Load()
	if pull {
		set = r.pull.Load()
	}
	if set != nil {
		if _, ok := (*set)[path]; ok {
			return path
		}
	}
	return Unmatched
}

// uriPath returns uri without its query.
func uriPath(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}
