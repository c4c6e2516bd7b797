package xfer

import "fmt"

// XferPipe is the ordered list of filters applied to a frame, outer-most
// first. The zero value is an empty pipe.
type XferPipe struct {
	filters []XferFilter
	ids     []byte
}

// NewXferPipe returns an empty pipe.
func NewXferPipe() *XferPipe {
	return new(XferPipe)
}

// Reset empties the pipe, keeping its memory.
func (x *XferPipe) Reset() {
	clear(x.filters)
	x.filters = x.filters[:0]
	x.ids = x.ids[:0]
}

// Append adds the filters with the given ids. Nothing is added when an id is
// unknown or the pipe would hold more than MaxPipeLen filters.
func (x *XferPipe) Append(filterId ...byte) error {
	if len(x.filters)+len(filterId) > MaxPipeLen {
		return fmt.Errorf("%w: %d + %d", ErrTooManyFilters, len(x.filters), len(filterId))
	}
	for _, id := range filterId {
		if byId[id].Load() == nil {
			return fmt.Errorf("%w: id %d (%q)", ErrUnknownFilter, id, id)
		}
	}
	for _, id := range filterId {
		x.filters = append(x.filters, byId[id].Load().f)
		x.ids = append(x.ids, id)
	}
	return nil
}

// AppendFrom appends the filters of src.
func (x *XferPipe) AppendFrom(src *XferPipe) {
	n := min(len(src.filters), MaxPipeLen-len(x.filters))
	x.filters = append(x.filters, src.filters[:n]...)
	x.ids = append(x.ids, src.ids[:n]...)
}

// Len returns the number of filters.
func (x *XferPipe) Len() int {
	return len(x.filters)
}

// Ids returns the filter ids, outer-most first. The slice is owned by x.
func (x *XferPipe) Ids() []byte {
	return x.ids
}

// Names returns the filter names, outer-most first.
func (x *XferPipe) Names() []string {
	names := make([]string, len(x.filters))
	for i, f := range x.filters {
		names[i] = f.Name()
	}
	return names
}

// OnPack wraps data in every filter, the last listed first, so that the
// first listed filter is the outer-most layer, as teleport v3.0 orders them.
func (x *XferPipe) OnPack(data []byte) ([]byte, error) {
	var err error
	for i := len(x.filters) - 1; i >= 0; i-- {
		f := x.filters[i]
		if data, err = f.OnPack(data); err != nil {
			return nil, fmt.Errorf("xfer: filter %q OnPack: %w", f.Name(), err)
		}
	}
	return data, nil
}

// OnUnpack peels the layers OnPack made, the outer-most (first listed)
// filter first.
func (x *XferPipe) OnUnpack(data []byte) ([]byte, error) {
	var err error
	for _, f := range x.filters {
		if data, err = f.OnUnpack(data); err != nil {
			return nil, fmt.Errorf("xfer: filter %q OnUnpack: %w", f.Name(), err)
		}
	}
	return data, nil
}
