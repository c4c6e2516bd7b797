package tp

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/henrylee2cn/goutil"
	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/utils"
)

type (
	// BackgroundCtx is what every context offers: where the message came
	// from, and scratch data for plugins and handlers.
	BackgroundCtx interface {
		// Peer returns the peer.
		Peer() *Peer
		// Session returns the session.
		Session() Session
		// Ip returns the remote peer's IP address.
		Ip() string
		// Public returns data shared along one message's handling.
		Public() goutil.Map
		// PublicLen returns the number of entries in Public.
		PublicLen() int
	}

	// WriteCtx is given to the write hooks.
	WriteCtx interface {
		BackgroundCtx
		// Output returns the packet being written.
		Output() *socket.Packet
	}

	// InputHeader is what every reading context tells about the message
	// it reads: its seq, metadata and URI.
	InputHeader interface {
		// Seq returns the input's sequence number.
		Seq() uint64
		// GetMeta returns the first metadata value of key.
		GetMeta(key string) []byte
		// CopyMeta returns a copy of the input metadata.
		CopyMeta() *utils.Args
		// Uri returns the input URI.
		Uri() string
		// Path returns the URI's path.
		Path() string
		// RawQuery returns the URI's query, without '?'.
		RawQuery() string
		// Query returns the URI's query, parsed.
		Query() url.Values
	}

	// ReadCtx is given to the read hooks. Besides the methods below, it has those of
	// BackgroundCtx (Peer, Session, Ip, Public, PublicLen) and of
	// InputHeader (Seq, GetMeta, CopyMeta, Uri, Path, RawQuery, Query).
	ReadCtx interface {
		BackgroundCtx
		InputHeader
		// Input returns the packet being read.
		Input() *socket.Packet
	}

	// PushCtx is the context a push controller embeds. Besides the methods below, it has those of
	// BackgroundCtx (Peer, Session, Ip, Public, PublicLen) and of
	// InputHeader (Seq, GetMeta, CopyMeta, Uri, Path, RawQuery, Query).
	PushCtx interface {
		BackgroundCtx
		InputHeader
		// GetBodyCodec returns the codec id of the input body.
		GetBodyCodec() byte
		// Context is cancelled when the session closes, when the peer's
		// Close or Shutdown gives up waiting for handlers, and when the
		// handler returns.
		Context() context.Context
	}

	// PullCtx is the context a pull controller embeds. Besides the methods below, it has those of
	// BackgroundCtx (Peer, Session, Ip, Public, PublicLen) and of
	// InputHeader (Seq, GetMeta, CopyMeta, Uri, Path, RawQuery, Query).
	PullCtx interface {
		BackgroundCtx
		InputHeader
		// Input returns the pull.
		Input() *socket.Packet
		// Output returns the reply being prepared.
		Output() *socket.Packet
		// GetBodyCodec returns the codec id of the input body.
		GetBodyCodec() byte
		// SetBodyCodec sets the codec of the reply body, which is the
		// pull's unless set.
		SetBodyCodec(byte)
		// SetMeta sets reply metadata.
		SetMeta(key, value string)
		// AddXferPipe adds transfer filters to the reply.
		AddXferPipe(filterId ...byte)
		// Context carries the caller's deadline, and is cancelled when
		// the caller cancels the pull, when the session closes, when the
		// peer's Close or Shutdown gives up waiting for handlers, and
		// when the handler returns.
		Context() context.Context
	}

	// UnknownPushCtx is given to the unknown push handler. Besides the methods below, it has those of
	// BackgroundCtx (Peer, Session, Ip, Public, PublicLen) and of
	// InputHeader (Seq, GetMeta, CopyMeta, Uri, Path, RawQuery, Query).
	UnknownPushCtx interface {
		BackgroundCtx
		InputHeader
		// GetBodyCodec returns the codec id of the input body.
		GetBodyCodec() byte
		// InputBodyBytes returns the undecoded input body.
		InputBodyBytes() []byte
		// Bind decodes the input body into v with its codec.
		Bind(v interface{}) (bodyCodec byte, err error)
		// Context is the handler's context, as PullCtx and PushCtx
		// describe it.
		Context() context.Context
	}

	// UnknownPullCtx is given to the unknown pull handler. Besides the methods
	// below, it has those of UnknownPushCtx, BackgroundCtx and InputHeader.
	UnknownPullCtx interface {
		UnknownPushCtx
		// SetBodyCodec sets the codec of the reply body.
		SetBodyCodec(byte)
		// SetMeta sets reply metadata.
		SetMeta(key, value string)
		// AddXferPipe adds transfer filters to the reply.
		AddXferPipe(filterId ...byte)
	}
)

// handlerCtx is the one pooled object behind every context: it carries an
// incoming message from the read loop through its handler to the reply.
type handlerCtx struct {
	sess    *session
	sock    *sockRef // the connection the input came on; the reply goes there
	input   socket.Packet
	output  socket.Packet
	handler *Handler
	arg     reflect.Value
	rawBody socket.RawBody
	pullCmd *PullCmd // the pull a reply answers
	public  goutil.Map
	start   int64   // monoNow when the header was read
	rerr    *Rerror // a stage's error: the message is not handled
	bodyErr error   // the body could not be decoded
	query   url.Values
	notice  notice // the input is one of the framework's own notices

	// The handler's context, made when it asks (see Context), and the
	// caller's deadline it carries (zero: none).
	deadline   time.Time
	ctx        context.Context
	cancelCtx  context.CancelFunc
	registered bool   // ctx is in the session's callTable
	queryOf    string // the URI query was parsed from

	// Bound once when the object is made, so that dispatching a message
	// allocates no closure.
	handleFn   func()
	bindBodyFn socket.NewBodyFunc
	callArgs   [2]reflect.Value
}

var (
	_ PullCtx        = (*handlerCtx)(nil)
	_ PushCtx        = (*handlerCtx)(nil)
	_ UnknownPullCtx = (*handlerCtx)(nil)
	_ ReadCtx        = (*handlerCtx)(nil)
	_ WriteCtx       = (*handlerCtx)(nil)
)

func newHandlerCtx() *handlerCtx {
	c := new(handlerCtx)
	c.handleFn = c.runHandlers
	c.bindBodyFn = c.bindBody
	return c
}

// reset prepares c for a message on sess.
func (c *handlerCtx) reset(sess *session) {
	c.sess = sess
	c.sock = nil
	c.input.Reset()
	c.output.Reset()
	c.handler = nil
	c.arg = reflect.Value{}
	c.rawBody = c.rawBody[:0]
	c.pullCmd = nil
	c.public = nil
	c.rerr = nil
	c.bodyErr = nil
	c.query = nil
	c.notice = noticeNone
	c.deadline = time.Time{}
	c.ctx, c.cancelCtx, c.registered = nil, nil, false
	c.callArgs = [2]reflect.Value{}
}

func (c *handlerCtx) Peer() *Peer            { return c.sess.peer }
func (c *handlerCtx) Session() Session       { return c.sess }
func (c *handlerCtx) Ip() string             { return c.sess.RemoteIp() }
func (c *handlerCtx) PublicLen() int         { return c.Public().Len() }
func (c *handlerCtx) Input() *socket.Packet  { return &c.input }
func (c *handlerCtx) Output() *socket.Packet { return &c.output }
func (c *handlerCtx) Seq() uint64            { return c.input.Seq() }
func (c *handlerCtx) Uri() string            { return c.input.Uri() }
func (c *handlerCtx) GetBodyCodec() byte     { return c.input.BodyCodec() }
func (c *handlerCtx) SetBodyCodec(id byte)   { c.output.SetBodyCodec(id) }
func (c *handlerCtx) InputBodyBytes() []byte { return c.rawBody }

// Public is made on first use: most messages never need it.
func (c *handlerCtx) Public() goutil.Map {
	if c.public == nil {
		c.public = goutil.RwMap()
	}
	return c.public
}

func (c *handlerCtx) GetMeta(key string) []byte { return c.input.Meta().Peek(key) }

func (c *handlerCtx) CopyMeta() *utils.Args {
	a := new(utils.Args)
	c.input.Meta().CopyTo(a)
	return a
}

func (c *handlerCtx) Path() string { return uriPath(c.input.Uri()) }

func (c *handlerCtx) RawQuery() string {
	uri := c.input.Uri()
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[i+1:]
	}
	return ""
}

// Query is parsed on first use, since most handlers never read it, and
// again after a plugin changed the URI.
func (c *handlerCtx) Query() url.Values {
	if c.query == nil || c.queryOf != c.input.Uri() {
		c.queryOf = c.input.Uri()
		c.query, _ = url.ParseQuery(c.RawQuery())
		if c.query == nil {
			c.query = url.Values{}
		}
	}
	return c.query
}

func (c *handlerCtx) SetMeta(key, value string) { c.output.Meta().Set(key, value) }

// AddXferPipe adds filters to the reply; an unknown id is logged and
// skipped, so a handler's typo cannot cost the caller its reply.
func (c *handlerCtx) AddXferPipe(filterId ...byte) {
	if err := c.output.XferPipe().Append(filterId...); err != nil {
		Errorf("tp: %s: AddXferPipe: %v", c.input.Uri(), err)
	}
}

func (c *handlerCtx) Bind(v interface{}) (byte, error) {
	id := c.input.BodyCodec()
	if len(c.rawBody) == 0 {
		return id, nil
	}
	return id, codec.Unmarshal(id, c.rawBody, v)
}

// uriPath returns uri without its query.
func uriPath(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}
