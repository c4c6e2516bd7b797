package tp

import "sync"

// pendingInline is how many waiting pulls a session keeps without a map:
// most sessions have a few pulls in flight, and an idle one should not keep
// a map that one pull made.
const pendingInline = 4

// pendingTable holds the pulls waiting for their replies, keyed by seq.
// Whoever takes a pull out of it (the reply, a write error, a deadline, the
// session's close) is the one that completes it, so each pull ends once.
type pendingTable struct {
	// mu guards the fields below.
	mu     sync.Mutex
	inline [pendingInline]pendingSlot // a nil cmd is a free slot
	cmds   map[uint64]*PullCmd        // the pulls that found no free slot
	closed bool
}

type pendingSlot struct {
	seq uint64
	cmd *PullCmd
}

// put adds cmd; false when the table was closed, and cmd was not added.
func (t *pendingTable) put(seq uint64, cmd *PullCmd) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	for i := range t.inline {
		if t.inline[i].cmd == nil {
			t.inline[i] = pendingSlot{seq, cmd}
			return true
		}
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
	defer t.mu.Unlock()
	for i := range t.inline {
		if s := &t.inline[i]; s.cmd != nil && s.seq == seq {
			cmd := s.cmd
			*s = pendingSlot{}
			return cmd
		}
	}
	cmd := t.cmds[seq]
	if cmd != nil {
		delete(t.cmds, seq)
	}
	return cmd
}

// takeIf removes and returns the pulls for which keep is true.
func (t *pendingTable) takeIf(keep func(*PullCmd) bool) []*PullCmd {
	t.mu.Lock()
	defer t.mu.Unlock()
	var taken []*PullCmd
	for i := range t.inline {
		if s := &t.inline[i]; s.cmd != nil && keep(s.cmd) {
			taken = append(taken, s.cmd)
			*s = pendingSlot{}
		}
	}
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
	cmds := make([]*PullCmd, 0, len(t.cmds)+pendingInline)
	for i := range t.inline {
		if s := &t.inline[i]; s.cmd != nil {
			cmds = append(cmds, s.cmd)
			*s = pendingSlot{}
		}
	}
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
	n := len(t.cmds)
	for i := range t.inline {
		if t.inline[i].cmd != nil {
			n++
		}
	}
	return n
}
