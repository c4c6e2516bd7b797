package runner

import (
	"bufio"
	"errors"
	"net"
	"sync"
)

// replyTable holds the calls of a multiplexed client connection waiting
// for their replies, by request id; the muxConn of rawtcp-mux and the
// minClientConn of minrpc share it.
type replyTable struct {
	// mu guards the fields below.
	mu      sync.Mutex
	pending map[uint64]*muxCall
	err     error // set once the connection failed; later calls fail at once
}

// add registers call under id, or returns the connection's error.
func (t *replyTable) add(id uint64, call *muxCall) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	if t.pending == nil {
		t.pending = make(map[uint64]*muxCall)
	}
	t.pending[id] = call
	return nil
}

// take removes and returns the call of id, or nil.
func (t *replyTable) take(id uint64) *muxCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	call := t.pending[id]
	delete(t.pending, id)
	return call
}

// failAll records err and ends every waiting call with it.
func (t *replyTable) failAll(err error) {
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	pending := t.pending
	t.pending = nil
	t.mu.Unlock()
	for _, call := range pending {
		call.done <- err
	}
}

// readReplies reads the replies arriving on c and ends their calls, until
// the connection fails; it returns why.
func (t *replyTable) readReplies(c net.Conn) error {
	br := bufio.NewReaderSize(c, 32<<10)
	var hdr [frameHeaderLen]byte
	for {
		id, n, err := readHeader(br, &hdr)
		if err != nil {
			return err
		}
		call := t.take(id)
		if call == nil {
			return errors.New("runner: reply for an unknown request id")
		}
		if call.resp, err = readBody(br, call.resp, n); err != nil {
			call.done <- err
			return err
		}
		call.done <- nil
	}
}
