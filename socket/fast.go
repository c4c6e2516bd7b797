package socket

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/internal/sizelimit"
	"github.com/teleport-go/teleport/utils"
)

// The fast protocol's identity on the wire and in logs.
const (
	FastProtoId   byte   = 'f'
	FastProtoName string = "fast"
)

const (
	// frameHeadLen covers size, proto id and filter count.
	frameHeadLen = 4 + 1 + 1
	// payloadMinLen covers seq, ptype, uri length, meta length, codec id.
	payloadMinLen = 8 + 1 + 4 + 4 + 1
	// MinFrameSize is the smallest valid frame: no filters, empty uri,
	// metadata and body.
	MinFrameSize = frameHeadLen + payloadMinLen

	// maxCoalesce bounds the bytes queued behind one flush, so a steady
	// stream of writers still flushes regularly.
	maxCoalesce = 64 << 10
	// readStep bounds how far a frame buffer grows ahead of the bytes that
	// actually arrived, so a declared size alone cannot reserve memory.
	readStep = 1 << 20

	uriCacheEntries = 64
	uriCacheMaxLen  = 256
)

// NewFastProtoFunc makes the default protocol, "fast" (id 'f'),
// byte-compatible with teleport v3. Its frame layout is in socket/PROTOCOL.md.
var NewFastProtoFunc ProtoFunc = func(rw io.ReadWriter) Proto {
	return &fastProto{r: rw, w: rw}
}

type fastProto struct {
	r io.Reader
	w io.Writer

	// pending counts writers that have a frame ready and want wmu; the
	// holder of wmu leaves flushing to them while it is above zero.
	pending atomic.Int32
	// wmu guards the fields below and every write to w.
	wmu  sync.Mutex
	wbuf *utils.ByteBuffer // frames waiting for the next flush, or nil

	// Owned by the single caller of Unpack.
	head     [4]byte
	uriCache map[string]string
}

func (f *fastProto) Version() (byte, string) { return FastProtoId, FastProtoName }

// Pack encodes p into a pooled buffer outside any lock, then hands the frame
// to write. Concurrent callers share one write syscall when they queue up.
func (f *fastProto) Pack(p *Packet) error {
	body, err := p.MarshalBody()
	if err != nil {
		return fmt.Errorf("%w of %q: %w", ErrMarshalBody, p.uri, err)
	}
	frame := utils.AcquireByteBuffer()
	defer utils.ReleaseByteBuffer(frame)
	ids := p.xferPipe.Ids()
	b := append(frame.B[:0], 0, 0, 0, 0, FastProtoId, byte(len(ids)))
	b = append(b, ids...)
	if len(ids) == 0 {
		b = appendPayload(b, p, body)
	} else {
		payload := utils.AcquireByteBuffer()
		payload.B = appendPayload(payload.B[:0], p, body)
		filtered, err := p.xferPipe.OnPack(payload.B)
		if err != nil {
			utils.ReleaseByteBuffer(payload)
			return fmt.Errorf("%w: %v", ErrXfer, err)
		}
		b = append(b, filtered...)
		utils.ReleaseByteBuffer(payload)
	}
	frame.B = b
	if uint64(len(b)) > uint64(sizelimit.Get()) {
		return fmt.Errorf("%w: %d > %d bytes (uri %q)", ErrExceedPacketSizeLimit, len(b), sizelimit.Get(), p.uri)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	p.size = uint32(len(b))
	return f.write(b)
}

func appendPayload(b []byte, p *Packet, body []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, p.seq)
	b = append(b, p.ptype)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.uri)))
	b = append(b, p.uri...)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	b = p.meta.AppendBytes(b)
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	b = append(b, p.bodyCodec)
	return append(b, body...)
}

// write sends frame whole. A writer that sees others queued behind it
// appends its frame to wbuf and returns; the last of a queue flushes
// everything in one Write. The lock is held across that Write on purpose:
// it is what keeps frames whole and lets the queue behind it grow.
func (f *fastProto) write(frame []byte) error {
	f.pending.Add(1)
	f.wmu.Lock()
	defer f.wmu.Unlock()
	queued := f.pending.Add(-1) > 0
	if f.wbuf == nil {
		if !queued {
			_, err := f.w.Write(frame)
			return err
		}
		f.wbuf = utils.AcquireByteBuffer()
	}
	f.wbuf.B = append(f.wbuf.B, frame...)
	if queued && len(f.wbuf.B) < maxCoalesce {
		return nil
	}
	_, err := f.w.Write(f.wbuf.B)
	utils.ReleaseByteBuffer(f.wbuf)
	f.wbuf = nil
	return err
}

// Unpack reads one frame into p, checking every length against the bytes
// present and the size limit before using it.
func (f *fastProto) Unpack(p *Packet) error {
	if _, err := io.ReadFull(f.r, f.head[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(f.head[:])
	if size < MinFrameSize {
		return fmt.Errorf("%w: %d < %d bytes", ErrFrameTooSmall, size, MinFrameSize)
	}
	if err := checkPacketSize(size); err != nil {
		return err
	}
	frame := utils.AcquireByteBuffer()
	defer utils.ReleaseByteBuffer(frame)
	if err := readFrameRest(f.r, frame, int(size)-4); err != nil {
		return err
	}
	data := frame.B
	if data[0] != FastProtoId {
		return fmt.Errorf("%w: %q, want %q", ErrProtoId, data[0], FastProtoId)
	}
	n := int(data[1])
	data = data[2:]
	if len(data) < n {
		return fmt.Errorf("%w: %d filter ids declared, %d bytes left", ErrTruncated, n, len(data))
	}
	p.xferPipe.Reset()
	if err := p.xferPipe.Append(data[:n]...); err != nil {
		return fmt.Errorf("%w: %v", ErrXfer, err)
	}
	data = data[n:]
	if n > 0 {
		var err error
		if data, err = p.xferPipe.OnUnpack(data); err != nil {
			return fmt.Errorf("%w: %v", ErrXfer, err)
		}
	}
	p.size = size
	return f.decodePayload(p, data)
}

// readFrameRest reads n bytes into buf, growing it at most readStep ahead of
// what has arrived.
func readFrameRest(r io.Reader, buf *utils.ByteBuffer, n int) error {
	b := buf.B[:0]
	for len(b) < n {
		step := min(n-len(b), max(len(b), readStep))
		b = slices.Grow(b, step)
		m, err := io.ReadFull(r, b[len(b):len(b)+step])
		b = b[:len(b)+m]
		if err != nil {
			buf.B = b
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%w: frame of %d bytes ended after %d: %w", ErrTruncated, n+4, len(b)+4, err)
		}
	}
	buf.B = b
	return nil
}

func (f *fastProto) decodePayload(p *Packet, data []byte) error {
	if len(data) < payloadMinLen {
		return fmt.Errorf("%w: payload of %d bytes, need at least %d", ErrTruncated, len(data), payloadMinLen)
	}
	p.seq = binary.BigEndian.Uint64(data)
	p.ptype = data[8]
	uriLen := binary.BigEndian.Uint32(data[9:])
	data = data[13:]
	// Each remaining fixed field (meta length, codec id) needs 5 bytes.
	if uint64(uriLen) > uint64(len(data)-5) {
		return fmt.Errorf("%w: uri length %d exceeds the %d bytes left", ErrTruncated, uriLen, len(data)-5)
	}
	p.uri = f.internUri(data[:uriLen])
	data = data[uriLen:]
	metaLen := binary.BigEndian.Uint32(data)
	data = data[4:]
	if uint64(metaLen) > uint64(len(data)-1) {
		return fmt.Errorf("%w: meta length %d exceeds the %d bytes left", ErrTruncated, metaLen, len(data)-1)
	}
	if err := p.meta.ParseBytes(data[:metaLen]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMeta, err)
	}
	data = data[metaLen:]
	p.bodyCodec = data[0]
	body := data[1:]
	if len(body) > 0 && p.bodyCodec != codec.NilCodecId {
		if _, err := codec.Get(p.bodyCodec); err != nil {
			return fmt.Errorf("%w: id %d (%q) for %d bytes of body", ErrUnknownBodyCodec, p.bodyCodec, p.bodyCodec, len(body))
		}
	}
	return p.UnmarshalNewBody(body)
}

// internUri returns b as a string, reusing the string of an earlier frame
// with the same URI: routes repeat, and the lookup does not allocate.
func (f *fastProto) internUri(b []byte) string {
	if s, ok := f.uriCache[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= uriCacheMaxLen && len(f.uriCache) < uriCacheEntries {
		if f.uriCache == nil {
			f.uriCache = make(map[string]string, uriCacheEntries)
		}
		f.uriCache[s] = s
	}
	return s
}
