package tp

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/teleport-go/teleport/utils"
)

// Packet types on the wire.
const (
	TypeUndefined byte = 0
	TypePull      byte = 1
	TypeReply     byte = 2
	TypePush      byte = 3
)

// Error codes of Rerror, as teleport v3 numbered them. Handlers may use
// their own codes too. The framework itself produces CodeConnClosed,
// CodeWriteFailed, CodeDialFailed, CodeBadPacket, CodeNotFound,
// CodeHandleTimeout, CodeInternalServerError and CodeServiceUnavailable;
// the others are for handlers and plugins.
const (
	CodeUnknownError        int32 = -1
	CodeConnClosed          int32 = 102
	CodeWriteFailed         int32 = 104
	CodeDialFailed          int32 = 105
	CodeBadPacket           int32 = 400
	CodeNotFound            int32 = 404
	CodePtypeNotAllowed     int32 = 405
	CodeHandleTimeout       int32 = 408
	CodeInternalServerError int32 = 500
	CodeNotImplemented      int32 = 501
	// CodeServiceUnavailable (beyond v3) answers a pull the peer will not
	// run now, because it is overloaded or going away: retry elsewhere or
	// later. The handler did not run.
	CodeServiceUnavailable int32 = 503
)

// MetaRerrorKey is the reply metadata key that carries a Rerror as JSON.
const MetaRerrorKey = "X-Reply-Error"

// Rerror is the error of a pull, a push or a connection stage, as carried
// between peers: a code, a message for humans, and a detail naming what was
// wrong.
type Rerror struct {
	// Code is one of the Code constants, or a handler's own.
	Code int32 `json:"code"`
	// Message is short and stable for a code.
	Message string `json:"message,omitempty"`
	// Detail says what went wrong this time.
	Detail string `json:"detail,omitempty"`
}

// NewRerror returns a Rerror.
func NewRerror(code int32, message, detail string) *Rerror {
	return &Rerror{Code: code, Message: message, Detail: detail}
}

// NewRerrorFromMeta returns the Rerror carried in meta under MetaRerrorKey,
// or nil when there is none. Malformed JSON there is itself reported as a
// CodeBadPacket Rerror.
func NewRerrorFromMeta(meta *utils.Args) *Rerror {
	b := meta.Peek(MetaRerrorKey)
	if len(b) == 0 {
		return nil
	}
	r := new(Rerror)
	if err := json.Unmarshal(b, r); err != nil {
		return NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("malformed %s metadata %q: %v", MetaRerrorKey, b, err))
	}
	return r
}

// Copy returns a copy of r, so a shared Rerror can be given a Detail.
func (r *Rerror) Copy() *Rerror {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// SetToMeta stores r in meta under MetaRerrorKey; a nil r stores nothing.
func (r *Rerror) SetToMeta(meta *utils.Args) {
	if r == nil {
		return
	}
	b, _ := json.Marshal(r) // cannot fail: three plain fields
	meta.SetBytes([]byte(MetaRerrorKey), b)
}

// ToError returns r as an error, and a nil r as a nil error (not an error
// interface holding a nil pointer).
func (r *Rerror) ToError() error {
	if r == nil {
		return nil
	}
	return r
}

// Error makes *Rerror an error: "rerror CODE: MESSAGE: DETAIL".
func (r *Rerror) Error() string {
	s := "rerror " + strconv.Itoa(int(r.Code))
	if r.Message != "" {
		s += ": " + r.Message
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// Is reports whether target is a *Rerror with the same code, so
// errors.Is(err, tp.NewRerror(tp.CodeNotFound, "", "")) tests the kind.
func (r *Rerror) Is(target error) bool {
	t, ok := target.(*Rerror)
	return ok && t != nil && t.Code == r.Code
}

// String returns r as JSON, as carried in metadata.
func (r *Rerror) String() string {
	if r == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// The framework's own errors, copied before a Detail is added.
var (
	rerrConnClosed    = NewRerror(CodeConnClosed, "Connection Closed", "")
	rerrWriteFailed   = NewRerror(CodeWriteFailed, "Write Failed", "")
	rerrDialFailed    = NewRerror(CodeDialFailed, "Dial Failed", "")
	rerrBadPacket     = NewRerror(CodeBadPacket, "Bad Packet", "")
	rerrNotFound      = NewRerror(CodeNotFound, "Not Found", "")
	rerrHandleTimeout = NewRerror(CodeHandleTimeout, "Handle Timeout", "")
	rerrInternal      = NewRerror(CodeInternalServerError, "Internal Server Error", "")

	rerrServiceUnavailable = NewRerror(CodeServiceUnavailable, "Service Unavailable", "")
)

// withDetail returns a copy of r with detail set.
func (r *Rerror) withDetail(detail string) *Rerror {
	c := r.Copy()
	c.Detail = detail
	return c
}
