package codec

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Codec encodes and decodes packet bodies.
type Codec interface {
	// Id returns the codec's wire id; 0 is reserved for "none".
	Id() byte
	// Name returns the codec's unique name, as used in PeerConfig.
	Name() string
	// Marshal returns the encoding of v.
	Marshal(v interface{}) ([]byte, error)
	// Unmarshal parses data into the value v points to. The decoded value
	// must not alias data: the caller reuses it.
	Unmarshal(data []byte, v interface{}) error
}

// AppendMarshaler is implemented by codecs that can encode into a buffer
// of the caller's: the framing then writes the body in place.
type AppendMarshaler interface {
	// MarshalAppend appends the encoding of v to dst.
	MarshalAppend(dst []byte, v interface{}) ([]byte, error)
}

const (
	// NilCodecId is the id of "no codec": the body is empty, or the
	// default codec is to be chosen.
	NilCodecId byte = 0
	// NilCodecName is the name matching NilCodecId.
	NilCodecName string = ""
)

type codecHolder struct{ c Codec }

var (
	// byId is read on every packet, so lookups are an array index and an
	// atomic load, never a lock.
	byId [256]atomic.Pointer[codecHolder]

	// regMu guards the fields below and serialises Reg.
	regMu  sync.Mutex
	byName = map[string]Codec{}
)

// Reg registers c. It panics when the id is NilCodecId or when the id or the
// name is already taken: both are programming mistakes found at init.
func Reg(c Codec) {
	regMu.Lock()
	defer regMu.Unlock()
	id, name := c.Id(), c.Name()
	if id == NilCodecId {
		panic(fmt.Sprintf("codec: register %q: id 0 is reserved for NilCodecId", name))
	}
	if old := byId[id].Load(); old != nil {
		panic(fmt.Sprintf("codec: register %q: id %q is already taken by %q", name, id, old.c.Name()))
	}
	if _, ok := byName[name]; ok {
		panic(fmt.Sprintf("codec: register id %q: name %q is already taken", id, name))
	}
	byName[name] = c
	byId[id].Store(&codecHolder{c})
}

// Get returns the codec registered under id.
func Get(id byte) (Codec, error) {
	if h := byId[id].Load(); h != nil {
		return h.c, nil
	}
	return nil, fmt.Errorf("codec: unsupported codec id %d (%q)", id, id)
}

// GetByName returns the codec registered under name.
func GetByName(name string) (Codec, error) {
	regMu.Lock()
	c, ok := byName[name]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("codec: unsupported codec name %q", name)
	}
	return c, nil
}

// Marshal encodes v with the codec registered under id.
func Marshal(id byte, v interface{}) ([]byte, error) {
	c, err := Get(id)
	if err != nil {
		return nil, err
	}
	return c.Marshal(v)
}

// Unmarshal decodes data into v with the codec registered under id.
func Unmarshal(id byte, data []byte, v interface{}) error {
	c, err := Get(id)
	if err != nil {
		return err
	}
	return c.Unmarshal(data, v)
}

func init() {
	Reg(JSONCodec{})
	Reg(ProtoCodec{})
	Reg(StringCodec{})
}
