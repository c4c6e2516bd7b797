package tp

import "sync/atomic"

// The controllers and plugin of the matrix and hostile tests. Their state
// lives in the session's Public map, put there by a holdPlugin at accept,
// so that no two tests share it.

// Keys of a session's Public map read by Hold and Sink.
const (
	holdKey = "test.hold" // *holdState
	sinkKey = "test.sink" // chan string
)

// holdState is what Hold.Wait reports to and waits on.
type holdState struct {
	entered chan struct{} // one send per handler that started (buffered)
	gate    chan struct{} // closed to let the handlers finish
	runs    atomic.Int64  // handlers started
}

func newHoldState() *holdState {
	return &holdState{entered: make(chan struct{}, 4096), gate: make(chan struct{})}
}

// release lets every handler finish, once.
func (h *holdState) release() {
	select {
	case <-h.gate:
	default:
		close(h.gate)
	}
}

// Hold is a pull controller whose handler waits for the test.
type Hold struct{ PullCtx }

// Wait reports its start, waits for the gate, and answers its argument.
func (h *Hold) Wait(n *int) (int, *Rerror) {
	if v, ok := h.Session().Public().Load(holdKey); ok {
		st := v.(*holdState)
		st.runs.Add(1)
		select {
		case st.entered <- struct{}{}:
		default:
		}
		<-st.gate
	}
	return *n, nil
}

// Sink is a push controller that hands what it gets to the test.
type Sink struct{ PushCtx }

// Put sends its argument on the session's sink channel.
func (s *Sink) Put(v *string) {
	if ch, ok := s.Session().Public().Load(sinkKey); ok {
		ch.(chan string) <- *v
	}
}

// holdPlugin puts a test's hold state and sink into every session it
// accepts (ServeConn included).
type holdPlugin struct {
	hold *holdState
	sink chan string
}

func (h *holdPlugin) Name() string { return "test-hold" }

func (h *holdPlugin) PostAccept(s PreSession) *Rerror {
	if h.hold != nil {
		s.Public().Store(holdKey, h.hold)
	}
	if h.sink != nil {
		s.Public().Store(sinkKey, h.sink)
	}
	return nil
}
