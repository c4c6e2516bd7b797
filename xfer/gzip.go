package xfer

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"
)

// Gzip filter identity.
const (
	IdGzip   byte   = 'g'
	NameGzip string = "gzip"
	// GzipLevel is the compression level of the default gzip filter.
	GzipLevel = 5
)

// ErrGzip is wrapped by every error of the gzip filter's OnUnpack other
// than ErrTooLarge: a bad header, a corrupt or truncated stream, a wrong
// checksum.
var ErrGzip = errors.New("xfer: bad gzip stream")

// inlineMax is the most output the gzip filter keeps while it inflates a
// stream of unknown size. Past it, the filter only counts the rest, then
// inflates once more into a buffer of the exact size: a stream that would
// exceed the size limit, however small, never holds more than this.
const inlineMax = 1 << 20

// syncFlushEnd is the empty stored block a sync flush ends with; teleport
// v3.0 ends every gzip stream with one and writes no final block or trailer.
var syncFlushEnd = []byte{0x00, 0x00, 0xff, 0xff}

// finalEmptyBlock is an empty stored block marked final: placed after a
// sync flush, it completes the deflate stream v3.0 left open.
var finalEmptyBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

func init() {
	Reg(NewGzip(IdGzip, NameGzip, GzipLevel))
}

// NewGzip returns a gzip filter with its own id, name and compression level,
// for registering a variant next to the default one.
func NewGzip(id byte, name string, level int) XferFilter {
	if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
		panic(fmt.Sprintf("xfer: gzip filter %q: %v", name, err))
	}
	g := &gzipFilter{id: id, name: name}
	g.writers.New = func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, level)
		return w
	}
	return g
}

type gzipFilter struct {
	id      byte
	name    string
	writers sync.Pool // *gzip.Writer
}

func (g *gzipFilter) Id() byte     { return g.id }
func (g *gzipFilter) Name() string { return g.name }

// OnPack writes a complete gzip stream (final block and trailer), which
// teleport v3.0 reads as well as its own.
func (g *gzipFilter) OnPack(src []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(src)/2 + 64)
	w := g.writers.Get().(*gzip.Writer)
	defer g.writers.Put(w)
	w.Reset(&out)
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// OnUnpack inflates src: one or more complete gzip members, or, as teleport
// v3.0 writes them, one member whose deflate stream stops right after a
// sync flush with no final block and no trailer. A stream cut anywhere else
// is an error, and so is output past MaxUnpackSize (ErrTooLarge), detected
// without holding more than inlineMax bytes of it.
func (g *gzipFilter) OnUnpack(src []byte) ([]byte, error) {
	if len(src) == 0 {
		return src, nil
	}
	in := inflaters.Get().(*inflater)
	defer inflaters.Put(in)
	limit := MaxUnpackSize()
	keep := min(inlineMax, limit) // the most output held while counting
	out := make([]byte, 0, min(4*len(src)+512, keep))
	total, err := in.run(src, limit, func(chunk []byte) {
		need := len(out) + len(chunk)
		if need > keep {
			return
		}
		if need > cap(out) {
			// Double by hand: append grows large slices by 1.25x, which
			// allocates several times the final size along the way.
			out = slices.Grow(out, min(max(2*cap(out), need), keep)-len(out))
		}
		out = append(out, chunk...)
	})
	if err != nil {
		return nil, err
	}
	if total == len(out) {
		return out, nil
	}
	// Too large to keep while counting: inflate again into the exact size.
	out = make([]byte, 0, total)
	if _, err := in.run(src, limit, func(chunk []byte) { out = append(out, chunk...) }); err != nil {
		return nil, err
	}
	return out, nil
}

// inflater is the pooled state of one OnUnpack: a flate reader and the
// buffer it inflates into.
type inflater struct {
	fr    io.ReadCloser // a flate reader, reset for each member
	src   flateSource
	chunk [32 << 10]byte
}

var inflaters = sync.Pool{New: func() any {
	in := new(inflater)
	in.fr = flate.NewReader(&in.src)
	return in
}}

// run inflates every member of src, giving the output to emit in chunks,
// and returns its length. It fails once the output passes limit.
func (in *inflater) run(src []byte, limit int, emit func([]byte)) (int, error) {
	total := 0
	for member := 0; len(src) > 0; member++ {
		body, err := skipGzipHeader(src)
		if err != nil {
			if member > 0 {
				return 0, fmt.Errorf("%w: %d bytes after member %d: %v", ErrGzip, len(src), member, err)
			}
			return 0, err
		}
		n, rest, err := in.member(body, limit-total, emit)
		if err != nil {
			return 0, err
		}
		total += n
		src = rest
	}
	return total, nil
}

// member inflates the deflate stream at the start of body and checks how it
// ends; it returns the output length and the bytes after the member.
func (in *inflater) member(body []byte, limit int, emit func([]byte)) (int, []byte, error) {
	// The final empty block after body completes a stream that stops at a
	// sync flush; a complete stream ends before reaching it.
	in.src = flateSource{body: body, tail: finalEmptyBlock}
	if err := in.fr.(flate.Resetter).Reset(&in.src, nil); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrGzip, err)
	}
	crc, n := uint32(0), 0
	for {
		m, err := in.fr.Read(in.chunk[:])
		if m > 0 {
			if n += m; n > limit {
				return 0, nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, MaxUnpackSize())
			}
			crc = crc32.Update(crc, crc32.IEEETable, in.chunk[:m])
			emit(in.chunk[:m])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%w: deflate data after %d bytes of output: %v", ErrGzip, n, err)
		}
	}
	if in.src.pos > len(body) {
		// The stream ran into the appended final block: body must have
		// ended exactly after a sync flush, and the block been read whole.
		if in.src.pos != len(body)+len(finalEmptyBlock) || !bytes.HasSuffix(body, syncFlushEnd) {
			return 0, nil, fmt.Errorf("%w: stream cut off after %d bytes of output", ErrGzip, n)
		}
		return n, nil, nil
	}
	rest := body[in.src.pos:]
	if len(rest) < 8 {
		return 0, nil, fmt.Errorf("%w: trailer of %d bytes, want 8", ErrGzip, len(rest))
	}
	if got := binary.LittleEndian.Uint32(rest); got != crc {
		return 0, nil, fmt.Errorf("%w: checksum %08x, trailer says %08x", ErrGzip, crc, got)
	}
	if got := binary.LittleEndian.Uint32(rest[4:]); got != uint32(n) {
		return 0, nil, fmt.Errorf("%w: %d bytes of output, trailer says %d", ErrGzip, n, got)
	}
	return n, rest[8:], nil
}

// flateSource reads body, then tail. It is an io.ByteReader, so the flate
// reader takes bytes one at a time and stops exactly where its stream ends.
type flateSource struct {
	body, tail []byte
	pos        int // bytes read, counting body then tail
}

func (s *flateSource) ReadByte() (byte, error) {
	switch {
	case s.pos < len(s.body):
		s.pos++
		return s.body[s.pos-1], nil
	case s.pos < len(s.body)+len(s.tail):
		s.pos++
		return s.tail[s.pos-1-len(s.body)], nil
	}
	return 0, io.EOF
}

func (s *flateSource) Read(p []byte) (int, error) {
	n := 0
	if s.pos < len(s.body) {
		n = copy(p, s.body[s.pos:])
	} else if t := s.pos - len(s.body); t < len(s.tail) {
		n = copy(p, s.tail[t:])
	} else {
		return 0, io.EOF
	}
	s.pos += n
	return n, nil
}

// gzip header flags (RFC 1952).
const (
	gzipFlagHCRC     = 1 << 1
	gzipFlagExtra    = 1 << 2
	gzipFlagName     = 1 << 3
	gzipFlagComment  = 1 << 4
	gzipFlagReserved = 0xe0
)

// skipGzipHeader checks the gzip member header at the start of src and
// returns what follows it.
func skipGzipHeader(src []byte) ([]byte, error) {
	if len(src) < 10 {
		return nil, fmt.Errorf("%w: header of %d bytes, want at least 10", ErrGzip, len(src))
	}
	if src[0] != 0x1f || src[1] != 0x8b {
		return nil, fmt.Errorf("%w: magic % x, want 1f 8b", ErrGzip, src[:2])
	}
	if src[2] != 8 {
		return nil, fmt.Errorf("%w: compression method %d, want 8 (deflate)", ErrGzip, src[2])
	}
	flags := src[3]
	if flags&gzipFlagReserved != 0 {
		return nil, fmt.Errorf("%w: reserved header flags %#x", ErrGzip, flags)
	}
	b := src[10:]
	if flags&gzipFlagExtra != 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: header extra field cut off", ErrGzip)
		}
		n := int(binary.LittleEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("%w: header extra field of %d bytes, %d left", ErrGzip, n, len(b)-2)
		}
		b = b[2+n:]
	}
	for _, f := range [...]byte{gzipFlagName, gzipFlagComment} {
		if flags&f == 0 {
			continue
		}
		end := bytes.IndexByte(b, 0)
		if end < 0 {
			return nil, fmt.Errorf("%w: header name or comment not terminated", ErrGzip)
		}
		b = b[end+1:]
	}
	if flags&gzipFlagHCRC != 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: header checksum cut off", ErrGzip)
		}
		hdr := src[:len(src)-len(b)]
		if got := binary.LittleEndian.Uint16(b); got != uint16(crc32.ChecksumIEEE(hdr)) {
			return nil, fmt.Errorf("%w: header checksum %04x is wrong", ErrGzip, got)
		}
		b = b[2:]
	}
	return b, nil
}
