package socket

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/internal/sizelimit"
	"github.com/teleport-go/teleport/utils"
	"github.com/teleport-go/teleport/xfer"
)

type (
	// Header is the routing part of a packet.
	Header interface {
		// Seq returns the sequence number that pairs a pull with its reply.
		Seq() uint64
		// SetSeq sets the sequence number.
		SetSeq(uint64)
		// Ptype returns the packet type (pull, reply, push).
		Ptype() byte
		// SetPtype sets the packet type.
		SetPtype(byte)
		// Uri returns the URI, path and optional query.
		Uri() string
		// SetUri sets the URI.
		SetUri(string)
		// Meta returns the metadata.
		Meta() *utils.Args
	}

	// Body is the payload part of a packet.
	Body interface {
		// BodyCodec returns the id of the codec of the body.
		BodyCodec() byte
		// SetBodyCodec sets the id of the codec of the body.
		SetBodyCodec(bodyCodec byte)
		// Body returns the body object.
		Body() interface{}
		// SetBody sets the body object.
		SetBody(body interface{})
		// SetNewBody sets the function that makes the body object a
		// received packet decodes into.
		SetNewBody(newBodyFunc NewBodyFunc)
		// MarshalBody encodes the body with its codec.
		MarshalBody() ([]byte, error)
		// UnmarshalNewBody makes a body with the NewBodyFunc and decodes
		// bodyBytes into it.
		UnmarshalNewBody(bodyBytes []byte) error
		// UnmarshalBody decodes bodyBytes into the existing body.
		UnmarshalBody(bodyBytes []byte) error
	}

	// NewBodyFunc makes the object a received body decodes into, chosen by
	// the already decoded header. It may return nil to discard the body.
	NewBodyFunc func(Header) interface{}

	// PacketSetting changes one field of a packet.
	PacketSetting func(*Packet)
)

// Packet is the unit of communication: a header, a body, the transfer
// filters of its frame and the frame's size. Use GetPacket and PutPacket
// to reuse packets; a Packet is not safe for concurrent use.
type Packet struct {
	seq         uint64
	ptype       byte
	uri         string
	meta        utils.Args
	bodyCodec   byte
	body        interface{}
	newBodyFunc NewBodyFunc
	xferPipe    xfer.XferPipe
	size        uint32
	ctx         context.Context
	settingErr  error // the first setting that could not be applied
	flushLater  bool  // see SetFlushLater
}

var (
	_ Header = new(Packet)
	_ Body   = new(Packet)
)

var packetPool = sync.Pool{New: func() any { return new(Packet) }}

// NewPacket returns a new packet with settings applied.
func NewPacket(settings ...PacketSetting) *Packet {
	p := new(Packet)
	p.applySettings(settings)
	return p
}

// GetPacket returns a packet from the pool with settings applied. Return it
// with PutPacket.
func GetPacket(settings ...PacketSetting) *Packet {
	p := packetPool.Get().(*Packet)
	p.applySettings(settings)
	return p
}

// PutPacket resets p and returns it to the pool; p must not be used after.
func PutPacket(p *Packet) {
	p.Reset()
	packetPool.Put(p)
}

// Reset clears every field, keeping the memory of the metadata and the
// filter pipe, then applies settings.
func (p *Packet) Reset(settings ...PacketSetting) {
	p.seq = 0
	p.ptype = 0
	p.uri = ""
	p.meta.Reset()
	p.bodyCodec = codec.NilCodecId
	p.body = nil
	p.newBodyFunc = nil
	p.xferPipe.Reset()
	p.size = 0
	p.ctx = nil
	p.settingErr = nil
	p.flushLater = false
	p.applySettings(settings)
}

func (p *Packet) applySettings(settings []PacketSetting) {
	for _, s := range settings {
		if s != nil {
			s(p)
		}
	}
}

// SetFlushLater asks the fast protocol to queue the packet's frame and
// return without writing it on the caller's goroutine when no write is in
// progress: another goroutine writes it, with the frames queued meanwhile.
// A caller sending many frames in a row (a stream) then shares each
// system call among them instead of making one per frame. A failure of
// that write reaches the caller's later writes, as the connection's sticky
// error. Other protocols ignore it; Reset clears it.
func (p *Packet) SetFlushLater(later bool) { p.flushLater = later }

// Seq returns the sequence number.
func (p *Packet) Seq() uint64 { return p.seq }

// SetSeq sets the sequence number.
func (p *Packet) SetSeq(seq uint64) { p.seq = seq }

// Ptype returns the packet type.
func (p *Packet) Ptype() byte { return p.ptype }

// SetPtype sets the packet type.
func (p *Packet) SetPtype(ptype byte) { p.ptype = ptype }

// Uri returns the URI.
func (p *Packet) Uri() string { return p.uri }

// SetUri sets the URI.
func (p *Packet) SetUri(uri string) { p.uri = uri }

// Meta returns the metadata, owned by the packet.
func (p *Packet) Meta() *utils.Args { return &p.meta }

// BodyCodec returns the body codec id.
func (p *Packet) BodyCodec() byte { return p.bodyCodec }

// SetBodyCodec sets the body codec id.
func (p *Packet) SetBodyCodec(bodyCodec byte) { p.bodyCodec = bodyCodec }

// Body returns the body object.
func (p *Packet) Body() interface{} { return p.body }

// SetBody sets the body object.
func (p *Packet) SetBody(body interface{}) { p.body = body }

// SetNewBody sets the function that makes the body of a received packet.
func (p *Packet) SetNewBody(newBodyFunc NewBodyFunc) { p.newBodyFunc = newBodyFunc }

// XferPipe returns the transfer filters of the frame, owned by the packet.
func (p *Packet) XferPipe() *xfer.XferPipe { return &p.xferPipe }

// AppendXferPipeFrom appends the filters of src's pipe.
func (p *Packet) AppendXferPipeFrom(src *Packet) { p.xferPipe.AppendFrom(&src.xferPipe) }

// Size returns the size of the frame last read or written.
func (p *Packet) Size() uint32 { return p.size }

// SetSize records the frame size; a size over PacketSizeLimit is an error.
func (p *Packet) SetSize(size uint32) error {
	if err := checkPacketSize(size); err != nil {
		return err
	}
	p.size = size
	return nil
}

// SettingErr returns the error of the first setting that could not be
// applied (an unknown filter id), or nil. Writing the packet fails with it.
func (p *Packet) SettingErr() error { return p.settingErr }

// Context returns the context set by WithContext, or context.Background.
func (p *Packet) Context() context.Context {
	if p.ctx == nil {
		return context.Background()
	}
	return p.ctx
}

// MarshalBody encodes the body. A nil body is empty, a *RawBody is its
// bytes. Otherwise, with NilCodecId the default body codec is used and
// recorded in the packet.
func (p *Packet) MarshalBody() ([]byte, error) {
	if p.body == nil {
		return nil, nil
	}
	if raw, ok := p.body.(*RawBody); ok {
		return *raw, nil
	}
	if p.bodyCodec == codec.NilCodecId {
		p.bodyCodec = DefaultBodyCodec()
	}
	c, err := codec.Get(p.bodyCodec)
	if err != nil {
		return nil, err
	}
	return c.Marshal(p.body)
}

// appendBody appends the encoded body to dst, through the codec's
// MarshalAppend when it has one, saving a buffer and a copy per packet.
func (p *Packet) appendBody(dst []byte) ([]byte, error) {
	if p.body == nil {
		return dst, nil
	}
	if raw, ok := p.body.(*RawBody); ok {
		return append(dst, *raw...), nil // already encoded, codec id as set
	}
	if p.bodyCodec == codec.NilCodecId {
		p.bodyCodec = DefaultBodyCodec()
	}
	c, err := codec.Get(p.bodyCodec)
	if err != nil {
		return nil, err
	}
	if a, ok := c.(codec.AppendMarshaler); ok {
		return a.MarshalAppend(dst, p.body)
	}
	body, err := c.Marshal(p.body)
	if err != nil {
		return nil, err
	}
	return append(dst, body...), nil
}

// UnmarshalNewBody makes the body with the NewBodyFunc and decodes bodyBytes
// into it. Without a NewBodyFunc, an existing body is decoded into, and a
// nil one becomes a copy of bodyBytes as []byte. A nil body from the
// NewBodyFunc discards the bytes.
func (p *Packet) UnmarshalNewBody(bodyBytes []byte) error {
	if p.newBodyFunc != nil {
		p.body = p.newBodyFunc(p)
	} else if p.body == nil {
		if len(bodyBytes) > 0 {
			p.body = append([]byte(nil), bodyBytes...)
		}
		return nil
	}
	return p.UnmarshalBody(bodyBytes)
}

// RawBody, used as the body object (*RawBody), receives a copy of the body
// bytes undecoded, whatever the codec, and is written as it is, under the
// packet's codec id unchanged: for handlers that route or forward bodies
// they do not know.
type RawBody []byte

// UnmarshalBody decodes bodyBytes into the existing body with the packet's
// codec. Empty bytes leave the body as it is.
func (p *Packet) UnmarshalBody(bodyBytes []byte) error {
	if raw, ok := p.body.(*RawBody); ok {
		*raw = append((*raw)[:0], bodyBytes...)
		return nil
	}
	if len(bodyBytes) == 0 || p.body == nil {
		return nil
	}
	if p.bodyCodec == codec.NilCodecId {
		return fmt.Errorf("%w: %d bytes of body without a codec id", ErrUnknownBodyCodec, len(bodyBytes))
	}
	c, err := codec.Get(p.bodyCodec)
	if err != nil {
		return fmt.Errorf("%w: id %d (%q) for %d bytes of body", ErrUnknownBodyCodec, p.bodyCodec, p.bodyCodec, len(bodyBytes))
	}
	if err = c.Unmarshal(bodyBytes, p.body); err != nil {
		return fmt.Errorf("%w: %s into %T: %v", ErrUnmarshalBody, c.Name(), p.body, err)
	}
	return nil
}

// String returns a one-line JSON-like dump of the packet for logs.
func (p *Packet) String() string {
	var b strings.Builder
	b.WriteString(`{"seq":`)
	b.WriteString(strconv.FormatUint(p.seq, 10))
	b.WriteString(`,"ptype":`)
	b.WriteString(strconv.Itoa(int(p.ptype)))
	b.WriteString(`,"uri":`)
	b.WriteString(strconv.Quote(p.uri))
	b.WriteString(`,"meta":`)
	b.WriteString(strconv.Quote(p.meta.String()))
	b.WriteString(`,"body_codec":`)
	b.WriteString(strconv.Itoa(int(p.bodyCodec)))
	b.WriteString(`,"body":`)
	switch body := p.body.(type) {
	case nil:
		b.WriteString("null")
	case []byte:
		b.WriteString(strconv.Quote(string(body)))
	case *[]byte:
		b.WriteString(strconv.Quote(string(*body)))
	default:
		b.WriteString(strconv.Quote(fmt.Sprintf("%+v", body)))
	}
	b.WriteString(`,"xfer_pipe":`)
	b.WriteString(strconv.Quote(string(p.xferPipe.Ids())))
	b.WriteString(`,"size":`)
	b.WriteString(strconv.FormatUint(uint64(p.size), 10))
	b.WriteString("}")
	return b.String()
}

// WithSeq sets the sequence number.
func WithSeq(seq uint64) PacketSetting { return func(p *Packet) { p.seq = seq } }

// WithPtype sets the packet type.
func WithPtype(ptype byte) PacketSetting { return func(p *Packet) { p.ptype = ptype } }

// WithUri sets the URI.
func WithUri(uri string) PacketSetting { return func(p *Packet) { p.uri = uri } }

// WithQuery adds key=value, escaped, to the query of the URI.
func WithQuery(key, value string) PacketSetting {
	return func(p *Packet) {
		sep := "?"
		if strings.IndexByte(p.uri, '?') >= 0 {
			sep = "&"
			if strings.HasSuffix(p.uri, "?") || strings.HasSuffix(p.uri, "&") {
				sep = ""
			}
		}
		p.uri += sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
	}
}

// WithAddMeta adds a metadata pair, keeping earlier values of key.
func WithAddMeta(key, value string) PacketSetting {
	return func(p *Packet) { p.meta.Add(key, value) }
}

// WithSetMeta sets a metadata pair, replacing earlier values of key.
func WithSetMeta(key, value string) PacketSetting {
	return func(p *Packet) { p.meta.Set(key, value) }
}

// WithBodyCodec sets the body codec id.
func WithBodyCodec(bodyCodec byte) PacketSetting {
	return func(p *Packet) { p.bodyCodec = bodyCodec }
}

// WithBody sets the body object.
func WithBody(body interface{}) PacketSetting { return func(p *Packet) { p.body = body } }

// WithNewBody sets the function making the body of a received packet.
func WithNewBody(newBodyFunc NewBodyFunc) PacketSetting {
	return func(p *Packet) { p.newBodyFunc = newBodyFunc }
}

// WithXferPipe appends transfer filters by id. An unknown id is kept as
// the packet's setting error: writing the packet then fails with it (an
// ErrXfer) rather than send a frame without the filter asked for.
func WithXferPipe(filterId ...byte) PacketSetting {
	return func(p *Packet) {
		if err := p.xferPipe.Append(filterId...); err != nil && p.settingErr == nil {
			p.settingErr = fmt.Errorf("%w: WithXferPipe: %v", ErrXfer, err)
		}
	}
}

// WithContext attaches ctx to the packet; for a pull, its deadline or
// cancellation ends the wait for the reply.
func WithContext(ctx context.Context) PacketSetting {
	return func(p *Packet) { p.ctx = ctx }
}

var defaultBodyCodec atomic.Uint32

func init() { defaultBodyCodec.Store(uint32(codec.IdJSON)) }

// SetDefaultBodyCodec sets the codec used for bodies whose codec id is
// NilCodecId. It panics for an unregistered id.
func SetDefaultBodyCodec(bodyCodec byte) {
	if _, err := codec.Get(bodyCodec); err != nil {
		panic(err)
	}
	defaultBodyCodec.Store(uint32(bodyCodec))
}

// DefaultBodyCodec returns the default body codec id (JSON unless set).
func DefaultBodyCodec() byte {
	return byte(defaultBodyCodec.Load())
}

// SetPacketSizeLimit sets the largest frame a socket reads or writes; 0
// restores the default of 64 MiB. Filters refuse to inflate past it too.
//
// The default is arpc's, between gRPC's 4 MiB and the 1 GiB this package
// had: a frame is held whole in memory while it is read and decoded, so
// the limit is what one connection can make the peer hold, and a handful
// of such frames must fit in a server's memory (see also FrameBudget).
// Larger payloads belong in several messages.
func SetPacketSizeLimit(maxPacketSize uint32) {
	sizelimit.Set(maxPacketSize)
}

// PacketSizeLimit returns the largest frame a socket reads or writes.
func PacketSizeLimit() uint32 {
	return sizelimit.Get()
}

func checkPacketSize(size uint32) error {
	if limit := sizelimit.Get(); size > limit {
		return fmt.Errorf("%w: %d > %d bytes", ErrExceedPacketSizeLimit, size, limit)
	}
	return nil
}
