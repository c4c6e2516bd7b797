package tp

import "sync"

// sessionTable holds a peer's open sessions. Ids are not unique (two
// sessions dialed to one address share the remote address as id), so the
// set of sessions and the index by id are kept apart: the index points at
// the latest session given an id. Each session records the key it is
// indexed under (session.tableKey, guarded by mu): its id can change
// without SetId, when a redial or a goaway moves it to a connection with
// another remote address, and the entry must follow it (rekey) and go with
// it (remove).
type sessionTable struct {
	// mu guards the fields below.
	mu   sync.RWMutex
	set  map[*session]struct{}
	byId map[string]*session
}

func (t *sessionTable) add(s *session) { t.addBelow(s, 0) }

// addBelow adds s unless the table holds limit sessions or more (limit <=
// 0: no limit); the check and the add are one step, so that sessions
// started at once cannot all pass a limit that only one more fits.
func (t *sessionTable) addBelow(s *session, limit int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit > 0 && len(t.set) >= limit {
		return false
	}
	if t.set == nil {
		t.set = map[*session]struct{}{}
		t.byId = map[string]*session{}
	}
	t.set[s] = struct{}{}
	t.index(s)
	return true
}

// index points the index at s under its id; the caller holds mu.
func (t *sessionTable) index(s *session) {
	s.tableKey = s.Id()
	t.byId[s.tableKey] = s
}

// unindex removes the index entry of s, if it still points at s; the
// caller holds mu.
func (t *sessionTable) unindex(s *session) {
	if t.byId[s.tableKey] == s {
		delete(t.byId, s.tableKey)
	}
}

// rekey re-indexes s after its connection changed, which changes an id
// that is the remote address.
func (t *sessionTable) rekey(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.set[s]; ok {
		t.unindex(s)
		t.index(s)
	}
}

func (t *sessionTable) remove(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.set, s)
	t.unindex(s)
}

// setId changes the id of s and, if s is in the table, its key in the
// index, under one lock: a concurrent remove sees either id, never half.
func (t *sessionTable) setId(s *session, newId string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.storeId(newId)
	if _, ok := t.set[s]; !ok {
		return
	}
	t.unindex(s)
	t.index(s)
}

func (t *sessionTable) get(id string) *session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byId[id]
}

func (t *sessionTable) all() []*session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	all := make([]*session, 0, len(t.set))
	for s := range t.set {
		all = append(all, s)
	}
	return all
}

func (t *sessionTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.set)
}
