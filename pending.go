package tp

import "sync"

// pendingTable holds the pulls waiting for their replies, keyed by seq.
// Whoever takes a pull out of it (the reply, a write error, a deadline, the
// session's close) is the one that completes it, so each pull ends once.
type pendingTable struct {
	// mu guards the fields below.
	mu     sync.Mutex
	cmds   map[uint64]*PullCmd
	closed bool
}

// put adds cmd; false when the table was closed, and cmd was not added.
func (t *pendingTable) put(seq uint64, cmd *PullCmd) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.cmds == nil {
		t.cmds = make(map[uint64]*PullCmd)
	}
	t.cmds[seq] = cmd
	return true
}

// take removes and returns the pull of seq, or nil.
func (t *pendingTable) take(seq uint64) *PullCmd {
	t.mu.Lock()
	cmd := t.cmds[seq]
	if cmd != nil {
		delete(t.cmds, seq)
	}
	t.mu.Unlock()
	return cmd
}

// takeIf removes and returns the pulls for which keep is true.
func (t *pendingTable) takeIf(keep func(*PullCmd) bool) []*PullCmd {
	t.mu.Lock()
	defer t.mu.Unlock()
	var taken []*PullCmd
	for seq, cmd := range t.cmds {
		if keep(cmd) {
			taken = append(taken, cmd)
			delete(t.cmds, seq)
		}
	}
	return taken
}

// close refuses further puts and returns every pull still waiting.
func (t *pendingTable) close() []*PullCmd {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	cmds := make([]*PullCmd, 0, len(t.cmds))
	for _, cmd := range t.cmds {
		cmds = append(cmds, cmd)
	}
	t.cmds = nil
	return cmds
}

// len returns the number of waiting pulls.
func (t *pendingTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.cmds)
}

// reopen accepts puts again after close, for a session that redialed.
func (t *pendingTable) reopen() {
	t.mu.Lock()
	t.closed = false
	t.mu.Unlock()
}
