package socket

import "errors"

// Errors of framing. Each names the broken rule; the functions returning
// them wrap them with the values involved, so test with errors.Is.
//
// After any of them but ErrUnknownBodyCodec and ErrUnmarshalBody the stream
// is out of step and the connection must be closed. Those two are raised
// after the whole frame was consumed: the stream is intact and the owner
// may answer the packet with an error and go on.
var (
	// ErrExceedPacketSizeLimit: a frame larger than PacketSizeLimit.
	ErrExceedPacketSizeLimit = errors.New("socket: packet size exceeds the limit")
	// ErrFrameBudget: a frame being read would pass the FrameBudget of
	// its socket's peer.
	ErrFrameBudget = errors.New("socket: the budget for frames being read is spent")
	// ErrFrameTooSmall: a declared frame size below the smallest frame.
	ErrFrameTooSmall = errors.New("socket: declared frame size below the minimum")
	// ErrProtoId: a frame of another protocol.
	ErrProtoId = errors.New("socket: wrong protocol id")
	// ErrXfer: an unknown or failing transfer filter.
	ErrXfer = errors.New("socket: transfer filter")
	// ErrTruncated: a field or a length that runs past the end of the frame.
	ErrTruncated = errors.New("socket: truncated frame")
	// ErrBadMeta: metadata that is not a valid query string.
	ErrBadMeta = errors.New("socket: bad metadata")
	// ErrUnknownBodyCodec: a body whose codec id is not registered.
	ErrUnknownBodyCodec = errors.New("socket: unknown body codec")
	// ErrUnmarshalBody: a body its codec cannot decode.
	ErrUnmarshalBody = errors.New("socket: cannot unmarshal body")
	// ErrMarshalBody: a body its codec cannot encode; nothing was written.
	ErrMarshalBody = errors.New("socket: cannot marshal body")
)

// IsPackError reports whether err from WritePacket was raised before
// anything was written (a body that cannot be encoded, a frame over the
// size limit, a failing filter), so the connection is still usable.
func IsPackError(err error) bool {
	return errors.Is(err, ErrMarshalBody) || errors.Is(err, ErrExceedPacketSizeLimit) || errors.Is(err, ErrXfer)
}

// IsBodyError reports whether err concerns only the body of a frame that was
// read whole, so the connection can go on.
func IsBodyError(err error) bool {
	return errors.Is(err, ErrUnknownBodyCodec) || errors.Is(err, ErrUnmarshalBody)
}
