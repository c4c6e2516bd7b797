package tp

import "sync"

// sessionTable holds a peer's open sessions. Ids are not unique (two
// sessions dialed to one address share the remote address as id), so the
// set of sessions and the index by id are kept apart: the index points at
// the latest session given an id.
type sessionTable struct {
	// mu guards the fields below.
	mu   sync.RWMutex
	set  map[*session]struct{}
	byId map[string]*session
}

func (t *sessionTable) add(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.set == nil {
		t.set = map[*session]struct{}{}
		t.byId = map[string]*session{}
	}
	t.set[s] = struct{}{}
	t.byId[s.Id()] = s
}

func (t *sessionTable) remove(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.set, s)
	if id := s.Id(); t.byId[id] == s {
		delete(t.byId, id)
	}
}

// setId changes the id of s and, if s is in the table, its key in the
// index, under one lock: a concurrent remove sees either id, never half.
func (t *sessionTable) setId(s *session, newId string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	oldId := s.Id()
	s.storeId(newId)
	if _, ok := t.set[s]; !ok {
		return
	}
	if t.byId[oldId] == s {
		delete(t.byId, oldId)
	}
	t.byId[s.Id()] = s
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
