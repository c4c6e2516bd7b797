package tp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
//
// A *Rerror is an error: errors.Is(err, tp.NewRerror(code, "", "")) tests
// its code, and one the framework made from a Go error (a deadline, a
// network error) unwraps to it, so errors.Is(err, context.DeadlineExceeded)
// and errors.As(err, &netErr) work too.
//
// Mind the nil-pointer trap: a function returning *Rerror returns a typed
// nil on success, and var err error = sess.Push(...) is then a non-nil
// error. Compare the *Rerror with nil, or convert it with ToError (or use
// PullCmd.Err), which gives a nil error on success.
type Rerror struct {
	// Code is one of the Code constants, or a handler's own.
	Code int32 `json:"code"`
	// Message is short and stable for a code.
	Message string `json:"message,omitempty"`
	// Detail says what went wrong this time.
	Detail string `json:"detail,omitempty"`

	// cause is the local Go error the Rerror was made from, if any; it
	// does not travel.
	cause error
}

// NewRerror returns a Rerror.
func NewRerror(code int32, message, detail string) *Rerror {
	return &Rerror{Code: code, Message: message, Detail: detail}
}

// NewRerrorFromMeta returns the Rerror carried in meta under MetaRerrorKey,
// or nil when there is none. teleport v3.0 escapes only '"' in that JSON,
// so a message or detail holding a backslash or a control character is not
// valid JSON; such a value is read leniently, the way v3.0 wrote it. Only a
// value with no code to recover is reported as a CodeBadPacket Rerror.
func NewRerrorFromMeta(meta *utils.Args) *Rerror {
	b := meta.Peek(MetaRerrorKey)
	if len(b) == 0 {
		return nil
	}
	r := new(Rerror)
	err := json.Unmarshal(b, r)
	if err == nil {
		return r
	}
	if r, ok := parseV3RerrorJSON(b); ok {
		return r
	}
	return NewRerror(CodeBadPacket, "Bad Packet", fmt.Sprintf("malformed %s metadata %q: %v", MetaRerrorKey, b, err))
}

// parseV3RerrorJSON reads {"code":N,"message":"…","detail":"…"} as teleport
// v3.0 writes it: the fields in that order, each optional but the code, and
// strings in which only '"' is escaped (as \") and every other byte is
// itself.
func parseV3RerrorJSON(b []byte) (*Rerror, bool) {
	const codeKey = `{"code":`
	if !bytes.HasPrefix(b, []byte(codeKey)) {
		return nil, false
	}
	b = b[len(codeKey):]
	end := 0
	if end < len(b) && b[end] == '-' {
		end++
	}
	for end < len(b) && '0' <= b[end] && b[end] <= '9' {
		end++
	}
	code, err := strconv.ParseInt(string(b[:end]), 10, 32)
	if err != nil || end < len(b) && b[end] != ',' && b[end] != '}' {
		return nil, false // not a code v3.0 wrote: 1e2, 1.5, 12abc
	}
	r := &Rerror{Code: int32(code)}
	b = b[end:]
	r.Message, b = cutV3String(b, `,"message":"`, `","detail":"`)
	r.Detail, _ = cutV3String(b, `,"detail":"`, "")
	return r, true
}

// cutV3String reads the string field that b starts with, when it starts with
// key, up to the quote that begins next (or the closing "} of the object when
// next is empty), and returns it unescaped with the rest of b.
func cutV3String(b []byte, key, next string) (string, []byte) {
	if !bytes.HasPrefix(b, []byte(key)) {
		return "", b
	}
	b = b[len(key):]
	// The field ends at the first quote followed by the next key or the
	// end of the object: v3.0 escaped every quote inside, so that
	// sequence cannot occur in the value (even after a backslash, which
	// v3.0 left as it is: "C:\" is the value C:\). A lone quote inside is
	// kept.
	end := len(b)
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		rest := b[i:]
		if next != "" && bytes.HasPrefix(rest, []byte(next)) || string(rest) == `"}` {
			end = i
			break
		}
	}
	field := b[:end]
	if end == len(b) { // cut off: keep what is there, without the closing "}
		field = bytes.TrimSuffix(bytes.TrimSuffix(field, []byte("}")), []byte(`"`))
	}
	s := strings.ReplaceAll(string(field), `\"`, `"`)
	return s, b[min(end+1, len(b)):]
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
	meta.SetBytes([]byte(MetaRerrorKey), r.appendJSON(nil))
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

// Unwrap returns the Go error r was made from on this side, such as
// context.DeadlineExceeded or a *net.OpError, or nil. Errors that came from
// the remote peer have none.
func (r *Rerror) Unwrap() error { return r.cause }

// Timeout reports whether r is a timeout: CodeHandleTimeout, or an error
// made from a timeout (a dial or write that timed out, a deadline).
func (r *Rerror) Timeout() bool {
	if r.Code == CodeHandleTimeout || errors.Is(r.cause, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(r.cause, &t) && t.Timeout()
}

// String returns r as JSON, as carried in metadata.
func (r *Rerror) String() string {
	if r == nil {
		return "<nil>"
	}
	return string(r.appendJSON(nil))
}

// appendJSON appends r as valid JSON which is also as close as valid JSON
// can be to what teleport v3.0 writes: the same field order, empty strings
// left out, and <, > and & as they are rather than \u escapes.
func (r *Rerror) appendJSON(dst []byte) []byte {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r) // cannot fail: three plain fields
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// The framework's own errors, copied before a Detail is added.
var (
	rerrConnClosed         = NewRerror(CodeConnClosed, "Connection Closed", "")
	rerrWriteFailed        = NewRerror(CodeWriteFailed, "Write Failed", "")
	rerrDialFailed         = NewRerror(CodeDialFailed, "Dial Failed", "")
	rerrBadPacket          = NewRerror(CodeBadPacket, "Bad Packet", "")
	rerrNotFound           = NewRerror(CodeNotFound, "Not Found", "")
	rerrHandleTimeout      = NewRerror(CodeHandleTimeout, "Handle Timeout", "")
	rerrInternal           = NewRerror(CodeInternalServerError, "Internal Server Error", "")
	rerrServiceUnavailable = NewRerror(CodeServiceUnavailable, "Service Unavailable", "")
)

// withDetail returns a copy of r with detail set.
func (r *Rerror) withDetail(detail string) *Rerror {
	c := r.Copy()
	c.Detail = detail
	return c
}

// wrap returns a copy of r made from err: its Detail says err (after
// context, when given), and it unwraps to err.
func (r *Rerror) wrap(err error, context string) *Rerror {
	c := r.Copy()
	c.Detail, c.cause = err.Error(), err
	if context != "" {
		c.Detail = context + ": " + c.Detail
	}
	return c
}
