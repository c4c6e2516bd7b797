package tptest

import (
	"io"

	tp "github.com/teleport-go/teleport"
)

// Echo is a stream controller the sub-packages' tests register:
// Echo.Back, the route /echo/back, sends back every string it receives
// until the opener's end.
type Echo struct{ tp.StreamCtx }

// Back echoes until the opener's end; a failed Recv or Send ends the
// stream with its error.
func (e *Echo) Back(*struct{}) *tp.Rerror {
	for {
		var s string
		if err := e.Recv(&s); err == io.EOF {
			return nil
		} else if err != nil {
			return tp.NewRerror(tp.CodeBadPacket, "recv", err.Error())
		}
		if err := e.Send(s); err != nil {
			return tp.NewRerror(tp.CodeWriteFailed, "send", err.Error())
		}
	}
}
