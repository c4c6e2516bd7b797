package xfer

import (
	"bytes"
	"compress/gzip"
	"fmt"
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
	readers sync.Pool // *gzip.Reader
}

func (g *gzipFilter) Id() byte     { return g.id }
func (g *gzipFilter) Name() string { return g.name }

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

// OnUnpack inflates src, refusing to produce more than MaxUnpackSize bytes
// so that a small hostile frame cannot expand into an unbounded buffer.
func (g *gzipFilter) OnUnpack(src []byte) ([]byte, error) {
	if len(src) == 0 {
		return src, nil
	}
	br := bytes.NewReader(src)
	r, _ := g.readers.Get().(*gzip.Reader)
	var err error
	if r == nil {
		r, err = gzip.NewReader(br)
	} else {
		err = r.Reset(br)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip header: %w", err)
	}
	defer g.readers.Put(r)
	limit := MaxUnpackSize()
	// Grow by hand: bytes.Buffer would double past the limit before the
	// limit is noticed, so a small bomb could reserve several times it.
	out := make([]byte, 0, min(4*len(src)+512, limit+1))
	for {
		if len(out) == cap(out) {
			if cap(out) > limit {
				return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
			}
			out = slices.Grow(out, min(cap(out), limit+1-cap(out)))
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	return out, nil
}
