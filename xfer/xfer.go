package xfer

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/teleport-go/teleport/internal/sizelimit"
)

// XferFilter transforms frame payloads on their way out and back.
type XferFilter interface {
	// Id returns the filter's wire id.
	Id() byte
	// Name returns the filter's unique name.
	Name() string
	// OnPack transforms an outgoing payload. It may return its input.
	OnPack([]byte) ([]byte, error)
	// OnUnpack reverses OnPack. It must return an error, not a larger
	// buffer, when the result would exceed MaxUnpackSize().
	OnUnpack([]byte) ([]byte, error)
}

// MaxPipeLen is the most filters a frame can name: its count is one byte.
const MaxPipeLen = 255

// ErrUnknownFilter is wrapped by the errors of lookups of unregistered ids.
var ErrUnknownFilter = errors.New("xfer: unknown filter")

// ErrTooManyFilters is returned when a pipe would exceed MaxPipeLen.
var ErrTooManyFilters = errors.New("xfer: more than 255 filters in one pipe")

// ErrTooLarge is returned by a filter whose output would exceed the packet
// size limit, such as a gzip bomb.
var ErrTooLarge = errors.New("xfer: unpacked payload exceeds the packet size limit")

type filterHolder struct{ f XferFilter }

var (
	// byId is read for every filtered frame: an array index, no lock.
	byId [256]atomic.Pointer[filterHolder]

	// regMu guards the fields below and serialises Reg.
	regMu  sync.Mutex
	byName = map[string]XferFilter{}
)

// Reg registers filter. It panics when its id or name is already taken, a
// programming mistake found at init.
func Reg(filter XferFilter) {
	regMu.Lock()
	defer regMu.Unlock()
	id, name := filter.Id(), filter.Name()
	if old := byId[id].Load(); old != nil {
		panic(fmt.Sprintf("xfer: register %q: id %q is already taken by %q", name, id, old.f.Name()))
	}
	if _, ok := byName[name]; ok {
		panic(fmt.Sprintf("xfer: register id %q: name %q is already taken", id, name))
	}
	byName[name] = filter
	byId[id].Store(&filterHolder{filter})
}

// Get returns the filter registered under id.
func Get(id byte) (XferFilter, error) {
	if h := byId[id].Load(); h != nil {
		return h.f, nil
	}
	return nil, fmt.Errorf("%w: id %d (%q)", ErrUnknownFilter, id, id)
}

// GetByName returns the filter registered under name.
func GetByName(name string) (XferFilter, error) {
	regMu.Lock()
	f, ok := byName[name]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: name %q", ErrUnknownFilter, name)
	}
	return f, nil
}

// MaxUnpackSize returns the largest payload a filter may produce on
// unpacking: the packet size limit of package socket.
func MaxUnpackSize() int {
	return int(sizelimit.Get())
}
