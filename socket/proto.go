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

	// BufferedProto is a Proto that tells how many bytes it holds: bytes
	// it read from the connection ahead of the frames it unpacked, in a
	// bufio.Reader of its own for instance. A socket waits for the network
	// (and a peer parks an idle connection in its poller) only while the
	// Proto holds none, so that a whole frame inside the Proto is unpacked
	// at once instead of waiting for more bytes to arrive.
	//
	// A Proto that reads exactly its frames from the io.ReadWriter it was
	// given, holding nothing between them, implements it returning 0, as
	// the fast protocol does. A Proto that implements neither is taken to
	// hold bytes at any time: its connections are read by a goroutine
	// blocked in Unpack, and never park.
	BufferedProto interface {
		Proto
		// Buffered returns how many bytes the Proto has read and not
		// yet unpacked. It is called by the one reader, between Unpack
		// calls.
		Buffered() int
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
