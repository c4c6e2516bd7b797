package socket

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

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

	// maxPending is the most bytes queued for the flusher before writers
	// wait for it: a bound on memory, not on batching.
	maxPending = 4 << 20
	// yieldAfterAlone is how many flushes in a row without company make
	// the flusher stop yielding before it writes; yieldProbe is how often
	// it yields anyway, to find out whether company is back.
	yieldAfterAlone = 4
	yieldProbe      = 8
	// maxKeptBuffer bounds the write buffers pooled between flushes.
	maxKeptBuffer = 4 << 20
	// firstReadStep is how much of a frame is read before its buffer
	// grows with what arrived; see readFrameRest.
	firstReadStep = 16 << 10

	uriCacheEntries = 4
	uriCacheMaxLen  = 256
)

// NewFastProtoFunc makes the default protocol, "fast" (id 'f'),
// byte-compatible with teleport v3. Its frame layout is in socket/PROTOCOL.md.
var NewFastProtoFunc ProtoFunc = func(rw io.ReadWriter) Proto {
	f := &fastProto{r: rw, w: rw}
	f.drained.L = &f.wmu
	return f
}

type fastProto struct {
	r io.Reader
	w io.Writer

	// wmu guards the fields below; it is never held across a Write.
	wmu sync.Mutex
	// flushing is true while one writer, the flusher, sends the queue;
	// other writers add their frames to it and leave.
	flushing bool
	queue    *writeQueue // frames waiting for the flusher; pooled, nil when none
	werr     error       // the first write error: the connection is broken
	// drained wakes writers waiting for the queue to shrink below
	// maxPending.
	drained sync.Cond
	// alone counts the flushes in a row that had no company: no frame
	// joined the flusher's while it yielded or wrote. Past yieldAfterAlone
	// the flusher writes at once, yielding only on every yieldProbe-th
	// flush to notice company coming back.
	alone   int
	flushes uint
	yields  uint // flushes that yielded, for tests

	// Owned by the single caller of Unpack.
	head     [frameHeadLen]byte
	uriCache [uriCacheEntries]string // the URIs seen last, most recent first
}

func (f *fastProto) Version() (byte, string) { return FastProtoId, FastProtoName }

// Buffered returns 0: the fast protocol reads exactly its frames, so what
// has arrived and is not unpacked is in the socket's own buffer.
func (f *fastProto) Buffered() int { return 0 }

// Pack encodes p into a pooled buffer outside any lock, then hands the frame
// to write. Concurrent callers share one write syscall when they queue up.
func (f *fastProto) Pack(p *Packet) error {
	if p.settingErr != nil {
		return p.settingErr
	}
	frame := getWriteBuffer()
	ids := p.xferPipe.Ids()
	b := append((*frame)[:0], 0, 0, 0, 0, FastProtoId, byte(len(ids)))
	b = append(b, ids...)
	var err error
	if len(ids) == 0 {
		if b, err = appendPayload(b, p); err != nil {
			putWriteBuffer(frame)
			return err
		}
	} else {
		payload := utils.AcquireByteBuffer()
		if payload.B, err = appendPayload(payload.B[:0], p); err != nil {
			utils.ReleaseByteBuffer(payload)
			putWriteBuffer(frame)
			return err
		}
		filtered, err := p.xferPipe.OnPack(payload.B)
		if err != nil {
			utils.ReleaseByteBuffer(payload)
			putWriteBuffer(frame)
			return fmt.Errorf("%w: %v", ErrXfer, err)
		}
		b = append(b, filtered...)
		utils.ReleaseByteBuffer(payload)
	}
	*frame = b
	if uint64(len(b)) > uint64(sizelimit.Get()) {
		putWriteBuffer(frame)
		uri := p.uri
		if len(uri) > 64 {
			uri = uri[:64] + "…"
		}
		return fmt.Errorf("%w: %d > %d bytes (uri %q)", ErrExceedPacketSizeLimit, len(b), sizelimit.Get(), uri)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	p.size = uint32(len(b))
	return f.write(frame, p.flushLater)
}

// appendPayload appends the unfiltered payload of p, the body last, encoded
// straight into b when its codec can append.
func appendPayload(b []byte, p *Packet) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, p.seq)
	b = append(b, p.ptype)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.uri)))
	b = append(b, p.uri...)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	b = p.meta.AppendBytes(b)
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	codecAt := len(b)
	b = append(b, p.bodyCodec)
	b, err := p.appendBody(b)
	if err != nil {
		return nil, fmt.Errorf("%w of %q: %w", ErrMarshalBody, p.uri, err)
	}
	b[codecAt] = p.bodyCodec // appendBody may have chosen the default codec
	return b, nil
}

// write queues frame, a buffer it takes over, and makes sure it is sent
// whole. The first writer to find no flush in progress becomes the
// flusher: it yields once, so that the goroutines ready to write (handlers
// finishing together, callers pulling at once) append their frames, then
// sends everything queued at once (one writev over TCP), and repeats until
// the queue is empty. A connection whose recent flushes found no company
// skips the yield, which would only delay its frame, but for one flush in
// yieldProbe. The other writers only queue. No lock is held across
// a Write, and only small frames are copied (see writeQueue).
//
// A writer whose frame is sent by the flusher returns before the Write: a
// failure of that Write reaches it, or its successors, as the connection's
// sticky error.
func (f *fastProto) write(frame *[]byte, later bool) error {
	f.wmu.Lock()
	for f.flushing && f.queue != nil && f.queue.n >= maxPending && f.werr == nil {
		f.drained.Wait() // back-pressure on writers faster than the link
	}
	if f.werr != nil {
		err := f.werr
		f.wmu.Unlock()
		putWriteBuffer(frame)
		return err
	}
	if f.queue == nil {
		f.queue = writeQueues.Get().(*writeQueue)
	}
	f.queue.add(frame)
	if f.flushing {
		f.wmu.Unlock()
		return nil
	}
	f.flushing = true
	if later {
		// The caller goes on making frames while another goroutine
		// writes: no yield, the next frames queue behind the write.
		f.wmu.Unlock()
		go func() {
			f.wmu.Lock()
			_ = f.flushLocked(true)
		}()
		return nil
	}
	// Yield so that the writers ready to run queue their frames too and
	// share the write; unless recent flushes found no company, when
	// yielding only adds latency (a lone caller, a quiet connection).
	f.flushes++
	yield := f.alone < yieldAfterAlone || f.flushes%yieldProbe == 0
	if yield {
		f.yields++
	}
	f.wmu.Unlock()

	if yield {
		runtime.Gosched()
	}

	f.wmu.Lock()
	return f.flushLocked(f.queue.frames > 1)
}

// flushLocked writes what is queued until the queue is empty, as the
// flusher, called with wmu held; it unlocks it. company says whether
// other writers' frames were queued with the first.
func (f *fastProto) flushLocked(company bool) error {
	for f.queue != nil {
		q := f.queue
		f.queue = nil
		f.drained.Broadcast()
		f.wmu.Unlock()
		err := q.writeTo(f.w)
		q.release()
		f.wmu.Lock()
		company = company || f.queue != nil // frames came during the write
		if err != nil {
			f.werr = err
			if f.queue != nil {
				f.queue.release()
				f.queue = nil
			}
			f.flushing = false
			f.drained.Broadcast()
			f.wmu.Unlock()
			return err
		}
	}
	if company {
		f.alone = 0
	} else if f.alone < yieldAfterAlone {
		f.alone++
	}
	f.flushing = false
	f.wmu.Unlock()
	return nil
}

// writeBuffers pools the buffers frames queue in: a connection holds one
// only while frames wait for a Write, so an idle one holds none.
var writeBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

func getWriteBuffer() *[]byte {
	b := writeBuffers.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// putWriteBuffer returns b to the pool, unless a large frame grew it past
// maxKeptBuffer.
func putWriteBuffer(b *[]byte) {
	if cap(*b) <= maxKeptBuffer {
		writeBuffers.Put(b)
	}
}

// Unpack reads one frame into p, checking every length against the bytes
// present and the size limit before using it.
func (f *fastProto) Unpack(p *Packet) error {
	// The head is checked piece by piece as it arrives: a declared size
	// out of bounds is refused on its 4 bytes, and a peer speaking another
	// protocol (a TLS client hello, an HTTP request) on the proto id,
	// instead of being awaited.
	got, err := readHead(f.r, f.head[:], 4, 0)
	if err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(f.head[:])
	if got > 4 && f.head[4] != FastProtoId {
		// Another protocol (a TLS client hello, an HTTP request) whose
		// first bytes read as a size: say what it is.
		return fmt.Errorf("%w: %q, want %q", ErrProtoId, f.head[4], FastProtoId)
	}
	if size < MinFrameSize {
		return fmt.Errorf("%w: %d < %d bytes (head % x)", ErrFrameTooSmall, size, MinFrameSize, f.head[:4])
	}
	if err := checkPacketSize(size); err != nil {
		return fmt.Errorf("%w (head %q)", err, f.head[:4])
	}
	x, fromSocket := f.r.(sockIO)
	if fromSocket {
		if lim := x.s.readLimit.Load(); lim > 0 && size > lim {
			return fmt.Errorf("%w: %d > %d bytes, the limit before the session is established (head %q)", ErrExceedPacketSizeLimit, size, lim, f.head[:4])
		}
	}
	if got < frameHeadLen {
		if _, err := readHead(f.r, f.head[got:], frameHeadLen-got, got); err != nil {
			return err
		}
	}
	if f.head[4] != FastProtoId {
		return fmt.Errorf("%w: %q, want %q", ErrProtoId, f.head[4], FastProtoId)
	}
	rest := int(size) - frameHeadLen
	data, ok := f.bufferedFrame(rest)
	if !ok {
		frame := utils.AcquireByteBuffer()
		defer utils.ReleaseByteBuffer(frame)
		var budget *FrameBudget
		if fromSocket {
			budget = x.s.budget.Load()
		}
		taken, err := readFrameRest(f.r, frame, rest, budget)
		budget.give(taken)
		if err != nil {
			return err
		}
		data = frame.B
	}
	n := int(f.head[5])
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

// bufferedFrame returns the rest of the frame, n bytes, in place when the
// socket's read-ahead buffer already holds them all: most frames of a busy
// connection are decoded without a copy. The bytes are valid until the
// next read, and decoding copies what it keeps.
func (f *fastProto) bufferedFrame(n int) ([]byte, bool) {
	if x, ok := f.r.(sockIO); ok {
		return x.s.ra.next(n)
	}
	return nil, false
}

// readHead reads at least min bytes into b, the part of a frame head after
// its first off bytes, and returns how many it read. A stream that ends
// before the first byte of a frame is io.EOF, a clean end; one that ends
// inside the head is ErrTruncated, like any other cut frame.
func readHead(r io.Reader, b []byte, min, off int) (int, error) {
	n, err := io.ReadAtLeast(r, b, min)
	if err == nil || err == io.EOF && off == 0 {
		return n, err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("%w: stream ended inside a frame head, after %d of %d bytes: %w", ErrTruncated, off+n, frameHeadLen, err)
}

// readFrameRest reads n bytes into buf. The buffer grows with the bytes
// that actually arrive, to at most four times them (from firstReadStep),
// never with the length the frame declared: a head alone reserves little,
// and a large frame is copied less than by doubling.
//
// With a budget, every step first takes its bytes from it, and the frame
// fails with ErrFrameBudget when they are not there; taken is what was
// taken, for the caller to give back once the frame is decoded.
func readFrameRest(r io.Reader, buf *utils.ByteBuffer, n int, budget *FrameBudget) (taken int64, err error) {
	b := buf.B[:0]
	for len(b) < n {
		step := min(n-len(b), max(cap(b)-len(b), 3*len(b), firstReadStep))
		if !budget.take(int64(step)) {
			buf.B = b
			return taken, fmt.Errorf("%w: %d bytes of a frame of %d would pass it (%d of %d bytes in use)", ErrFrameBudget, len(b)+step, n+frameHeadLen, budget.InUse(), budget.limit)
		}
		taken += int64(step)
		b = slices.Grow(b, step)
		m, err := io.ReadFull(r, b[len(b):len(b)+step])
		b = b[:len(b)+m]
		if err != nil {
			buf.B = b
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return taken, fmt.Errorf("%w: frame of %d bytes ended after %d: %w", ErrTruncated, n+frameHeadLen, len(b)+frameHeadLen, err)
		}
	}
	buf.B = b
	return taken, nil
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
	// The body object is asked for even when the codec is unknown: it is
	// how the owner routes the packet (a reply ends its pull there), and
	// decoding then reports the unknown codec as a body error.
	return p.UnmarshalNewBody(data[1:])
}

// internUri returns b as a string, reusing the string of an earlier frame
// with the same URI: routes repeat, and the lookup does not allocate. The
// cache is a few strings kept in the protocol itself, so that it costs an
// idle connection nothing but their headers.
func (f *fastProto) internUri(b []byte) string {
	for i, s := range f.uriCache {
		if s == string(b) && (s != "" || len(b) == 0) {
			if i > 0 { // most recent first: hot routes stay in front
				copy(f.uriCache[1:i+1], f.uriCache[:i])
				f.uriCache[0] = s
			}
			return s
		}
	}
	s := string(b)
	if len(b) <= uriCacheMaxLen {
		copy(f.uriCache[1:], f.uriCache[:len(f.uriCache)-1])
		f.uriCache[0] = s
	}
	return s
}
