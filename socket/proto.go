package socket

import (
	"io"
	"sync/atomic"
)

type (
	// Proto packs packets into frames and unpacks them, over the
	// io.ReadWriter it was made for.
	Proto interface {
		// Version returns the protocol id and name.
		Version() (byte, string)
		// Pack encodes p and writes it as one frame. It must be safe for
		// concurrent callers, and frames of different callers must never
		// interleave.
		Pack(p *Packet) error
		// Unpack reads one frame and decodes it into p. Callers
		// serialise it: one reader at a time.
		Unpack(p *Packet) error
	}

	// ProtoFunc makes a Proto for one connection. The io.ReadWriter reads
	// through the socket's buffer and writes straight to the connection.
	ProtoFunc func(io.ReadWriter) Proto
)

type protoFuncHolder struct{ f ProtoFunc }

var defaultProtoFunc atomic.Pointer[protoFuncHolder]

func init() { SetDefaultProtoFunc(NewFastProtoFunc) }

// DefaultProtoFunc returns the protocol used when none is given: the fast
// protocol unless changed with SetDefaultProtoFunc.
func DefaultProtoFunc() ProtoFunc {
	return defaultProtoFunc.Load().f
}

// SetDefaultProtoFunc sets the protocol used when none is given; nil
// restores the fast protocol.
func SetDefaultProtoFunc(protoFunc ProtoFunc) {
	if protoFunc == nil {
		protoFunc = NewFastProtoFunc
	}
	defaultProtoFunc.Store(&protoFuncHolder{protoFunc})
}

// pickProtoFunc returns the first non-nil protoFunc, or the default.
func pickProtoFunc(protoFunc []ProtoFunc) ProtoFunc {
	for _, f := range protoFunc {
		if f != nil {
			return f
		}
	}
	return DefaultProtoFunc()
}
