package tp

import (
	"sync/atomic"
	"time"
)

// Home is the pull controller most tests use.
type Home struct {
	PullCtx
}

func (h *Home) TestAdd(a *[2]int) (int, *Rerror) { return a[0] + a[1], nil }

func (h *Home) Echo(s *string) (string, *Rerror) { return *s, nil }

func (h *Home) Bytes(b *[]byte) ([]byte, *Rerror) { return *b, nil }

// BytesPtr is Bytes with a pointer result: a shape called directly.
func (h *Home) BytesPtr(b *[]byte) (*[]byte, *Rerror) { return b, nil }

func (h *Home) Fail(code *int32) (interface{}, *Rerror) {
	return nil, NewRerror(*code, "failed on purpose", "code asked for")
}

func (h *Home) Panic(*struct{}) (int, *Rerror) { panic("boom") }

func (h *Home) Nothing(*struct{}) (*struct{}, *Rerror) { return nil, nil }

// Sleep waits the given milliseconds, then answers them back.
func (h *Home) Sleep(ms *int) (int, *Rerror) {
	time.Sleep(time.Duration(*ms) * time.Millisecond)
	return *ms, nil
}

// Meta answers with the query and metadata it got, and sets reply
// metadata, a gzip reply and the string codec.
func (h *Home) Meta(*struct{}) (string, *Rerror) {
	h.SetMeta("reply-key", "reply value")
	h.AddXferPipe('g')
	h.SetBodyCodec('s')
	return h.Path() + "|" + h.Query().Get("q") + "|" + string(h.GetMeta("k")), nil
}

// Ctx returns what the context says of the pull.
func (h *Home) Ctx(*struct{}) (map[string]interface{}, *Rerror) {
	return map[string]interface{}{
		"seq":   h.Seq(),
		"uri":   h.Uri(),
		"raw":   h.RawQuery(),
		"ip":    h.Ip(),
		"codec": string(h.GetBodyCodec()),
		"ok":    h.Session().IsOk() && h.Peer() != nil && h.Input().Seq() == h.Seq(),
	}, nil
}

// Note is the push controller most tests use; it reports on notes.
type Note struct {
	PushCtx
}

var notes = make(chan string, 1000)

func (n *Note) Say(s *string) { notes <- n.Uri() + " " + *s }

func (n *Note) Panic(*struct{}) { panic("push boom") }

// counting counts calls across tests that need it.
var counting atomic.Int64

func (n *Note) Count(*int) { counting.Add(1) }

// blockGate holds Note.Block until closed; each test sets its own.
var blockGate chan struct{}

// Blocker is a push controller whose handler waits for blockGate.
type Blocker struct {
	PushCtx
}

// Wait waits for blockGate.
func (b *Blocker) Wait(*int) { <-blockGate }
