package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/teleport-go/teleport/internal/israce"
)

// The fakes below are hand-written messages with the method sets of the
// generators the codec fast-paths. Each encodes field 1 (string Name) and
// field 2 (bytes Data) in the protobuf wire format, so a fake with only
// Name set reads as a wrapperspb.StringValue, and counts which of its
// methods ran so a test can tell which path the codec took.

// fakeFields is the payload and bookkeeping shared by the fakes.
type fakeFields struct {
	Name string
	Data []byte

	sizeCalls, marshalCalls, unmarshalCalls, resets int
	sizeSlack                                       int // added to the size reported, as a generator with a loose Size would
	marshalErr                                      error
}

func (f *fakeFields) size() int {
	n := 0
	if f.Name != "" {
		n += protowire.SizeTag(1) + protowire.SizeBytes(len(f.Name))
	}
	if f.Data != nil {
		n += protowire.SizeTag(2) + protowire.SizeBytes(len(f.Data))
	}
	return n
}

// marshalTail writes the encoding into the tail of dst, as generated
// MarshalToSizedBuffer methods do, and returns its length.
func (f *fakeFields) marshalTail(dst []byte) (int, error) {
	f.marshalCalls++
	if f.marshalErr != nil {
		return 0, f.marshalErr
	}
	n := f.size()
	if n > len(dst) {
		return 0, fmt.Errorf("fake: buffer of %d bytes for %d", len(dst), n)
	}
	// Appending within the capacity of the tail slice writes in place.
	out := dst[len(dst)-n : len(dst)-n]
	if f.Name != "" {
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendString(out, f.Name)
	}
	if f.Data != nil {
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, f.Data)
	}
	return len(out), nil
}

// unmarshal decodes data, copying what it keeps as generated code does;
// like generated code it merges, relying on the codec to reset first.
func (f *fakeFields) unmarshal(data []byte) error {
	f.unmarshalCalls++
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 || typ != protowire.BytesType {
			return errors.New("fake: bad tag")
		}
		data = data[n:]
		v, n := protowire.ConsumeBytes(data)
		if n < 0 {
			return errors.New("fake: bad length")
		}
		data = data[n:]
		switch num {
		case 1:
			f.Name = string(v)
		case 2:
			f.Data = append(f.Data[:0], v...)
			if f.Data == nil {
				f.Data = []byte{} // present but empty, as generated code keeps it
			}
		}
	}
	return nil
}

// reset clears the payload and keeps the counters.
func (f *fakeFields) reset() {
	f.resets++
	f.Name, f.Data = "", nil
}

// vtMsg has the methods of protoc-gen-go-vtproto's size, marshal and
// unmarshal features, and proto.Message (v1).
type vtMsg struct{ fakeFields }

func (m *vtMsg) Reset()                                       { m.reset() }
func (m *vtMsg) String() string                               { return "vtMsg" }
func (m *vtMsg) ProtoMessage()                                {}
func (m *vtMsg) SizeVT() int                                  { m.sizeCalls++; return m.size() + m.sizeSlack }
func (m *vtMsg) MarshalToSizedBufferVT(b []byte) (int, error) { return m.marshalTail(b) }
func (m *vtMsg) UnmarshalVT(b []byte) error                   { return m.unmarshal(b) }

// gogoMsg has the methods of gogo's marshaler, sizer and unmarshaler
// plugins.
type gogoMsg struct{ fakeFields }

func (m *gogoMsg) Reset()                                     { m.reset() }
func (m *gogoMsg) String() string                             { return "gogoMsg" }
func (m *gogoMsg) ProtoMessage()                              {}
func (m *gogoMsg) Size() int                                  { m.sizeCalls++; return m.size() + m.sizeSlack }
func (m *gogoMsg) MarshalToSizedBuffer(b []byte) (int, error) { return m.marshalTail(b) }
func (m *gogoMsg) Unmarshal(b []byte) error                   { return m.unmarshal(b) }

// bothMsg has both method sets (a message run through both generators);
// the vtproto ones must win.
type bothMsg struct {
	vtMsg
	gogo fakeFields // counts calls of the gogo-style methods
}

func (m *bothMsg) Size() int { m.gogo.sizeCalls++; return m.size() }
func (m *bothMsg) MarshalToSizedBuffer(b []byte) (int, error) {
	m.gogo.marshalCalls++
	return m.marshalTail(b)
}
func (m *bothMsg) Unmarshal(b []byte) error { m.gogo.unmarshalCalls++; return m.unmarshal(b) }

// sizeOnlyMsg has SizeVT but no sized marshaller: half a method set is
// no fast path.
type sizeOnlyMsg struct{ wrapperspb.StringValue }

func (m *sizeOnlyMsg) SizeVT() int {
	panic("fake: SizeVT must not be called without MarshalToSizedBufferVT")
}

// notProto has the fast methods but is not a proto.Message: the codec
// refuses it, as it refuses any other non-message.
type notProto struct{ fakeFields }

func (m *notProto) SizeVT() int                                  { return m.size() }
func (m *notProto) MarshalToSizedBufferVT(b []byte) (int, error) { return m.marshalTail(b) }
func (m *notProto) UnmarshalVT(b []byte) error                   { return m.unmarshal(b) }

// fake is what the table tests need of every fake.
type fake interface {
	Reset()
	fields() *fakeFields
}

func (f *fakeFields) fields() *fakeFields { return f }

// wantEncoding is the wire encoding of a fake holding name and data.
func wantEncoding(name string, data []byte) []byte {
	var b []byte
	if name != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	if data != nil {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, data)
	}
	return b
}

func TestProtoFastPaths(t *testing.T) {
	long := strings.Repeat("x", 300) // a two-byte length varint
	tests := []struct {
		name string
		new  func() fake
	}{
		{"vtproto", func() fake { return new(vtMsg) }},
		{"gogo", func() fake { return new(gogoMsg) }},
		{"both: vtproto wins", func() fake { return new(bothMsg) }},
	}
	payloads := []struct {
		name string
		data []byte
	}{
		{"", nil},
		{"teleport", nil},
		{"", []byte{}},
		{"héllo", []byte{0, 1, 0xff}},
		{long, []byte(long)},
	}
	c := ProtoCodec{}
	for _, tt := range tests {
		for _, p := range payloads {
			t.Run(fmt.Sprintf("%s/%d+%d", tt.name, len(p.name), len(p.data)), func(t *testing.T) {
				want := wantEncoding(p.name, p.data)
				in := tt.new()
				in.fields().Name, in.fields().Data = p.name, p.data

				got, err := c.Marshal(in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("Marshal = %x, want %x", got, want)
				}
				got, err = c.MarshalAppend([]byte("prefix"), in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, append([]byte("prefix"), want...)) {
					t.Fatalf("MarshalAppend = %x, want prefix + %x", got, want)
				}
				if n := in.fields(); n.sizeCalls != 2 || n.marshalCalls != 2 {
					t.Errorf("fast marshal path ran size %d and marshal %d times, want 2 each", n.sizeCalls, n.marshalCalls)
				}

				out := tt.new()
				out.fields().Name, out.fields().Data = "stale", []byte("stale")
				if err := c.Unmarshal(want, out); err != nil {
					t.Fatal(err)
				}
				f := out.fields()
				if f.Name != p.name || !bytes.Equal(f.Data, p.data) || (f.Data == nil) != (p.data == nil) {
					t.Errorf("Unmarshal = %q %q, want %q %q", f.Name, f.Data, p.name, p.data)
				}
				if n := out.fields(); n.unmarshalCalls != 1 || f.resets != 1 {
					t.Errorf("fast unmarshal ran %d times after %d resets, want 1 and 1", n.unmarshalCalls, f.resets)
				}
			})
		}
	}
	t.Run("both: gogo methods unused", func(t *testing.T) {
		m := &bothMsg{vtMsg: vtMsg{fakeFields{Name: "x"}}}
		b, _ := c.MarshalAppend(nil, m)
		_ = c.Unmarshal(b, m)
		if m.gogo.sizeCalls+m.gogo.marshalCalls+m.gogo.unmarshalCalls != 0 {
			t.Errorf("gogo-style methods ran beside the vtproto ones: %+v", m.gogo)
		}
	})
}

// The fast paths and the reflection path agree on the wire: a fake with
// only field 1 set is a wrapperspb.StringValue.
func TestProtoFastPathsInteroperate(t *testing.T) {
	c := ProtoCodec{}
	for _, m := range []fake{&vtMsg{fakeFields{Name: "interop"}}, &gogoMsg{fakeFields{Name: "interop"}}} {
		t.Run(fmt.Sprintf("%T", m), func(t *testing.T) {
			fast, err := c.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var sv wrapperspb.StringValue
			if err := c.Unmarshal(fast, &sv); err != nil || sv.GetValue() != "interop" {
				t.Fatalf("reflection path read %q, %v", sv.GetValue(), err)
			}
			slow, err := c.Marshal(&sv)
			if err != nil {
				t.Fatal(err)
			}
			m.Reset()
			if err := c.Unmarshal(slow, m); err != nil || m.fields().Name != "interop" {
				t.Fatalf("fast path read %q, %v", m.fields().Name, err)
			}
		})
	}
}

func TestProtoFastPathEdges(t *testing.T) {
	c := ProtoCodec{}
	t.Run("size larger than written", func(t *testing.T) {
		for _, m := range []fake{&vtMsg{fakeFields{Name: "loose", sizeSlack: 3}}, &gogoMsg{fakeFields{Name: "loose", sizeSlack: 3}}} {
			got, err := c.MarshalAppend([]byte("p"), m)
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]byte("p"), wantEncoding("loose", nil)...); !bytes.Equal(got, want) {
				t.Errorf("%T: MarshalAppend = %x, want %x", m, got, want)
			}
		}
	})
	t.Run("size smaller than needed", func(t *testing.T) {
		m := &vtMsg{fakeFields{Name: "tight", sizeSlack: -2}}
		if _, err := c.MarshalAppend(nil, m); err == nil {
			t.Error("no error for a Size below what the marshaller needs")
		}
	})
	t.Run("negative size", func(t *testing.T) {
		m := &gogoMsg{fakeFields{sizeSlack: -1}}
		if _, err := c.Marshal(m); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("err = %v, want a negative size error", err)
		}
	})
	t.Run("marshal error", func(t *testing.T) {
		cause := errors.New("required field not set")
		for _, m := range []fake{&vtMsg{fakeFields{marshalErr: cause}}, &gogoMsg{fakeFields{marshalErr: cause}}} {
			if _, err := c.Marshal(m); !errors.Is(err, cause) {
				t.Errorf("%T: Marshal err = %v, want it to wrap %v", m, err, cause)
			}
			if b, err := c.MarshalAppend([]byte("p"), m); !errors.Is(err, cause) || b != nil {
				t.Errorf("%T: MarshalAppend = %q, %v, want nil and %v", m, b, err, cause)
			}
		}
	})
	t.Run("unmarshal error", func(t *testing.T) {
		for _, m := range []fake{new(vtMsg), new(gogoMsg)} {
			if err := c.Unmarshal([]byte{0x0A, 0x05, 'a'}, m); err == nil {
				t.Errorf("%T: no error for a truncated body", m)
			}
		}
	})
	t.Run("half a method set", func(t *testing.T) {
		m := &sizeOnlyMsg{StringValue: wrapperspb.StringValue{Value: "reflection"}}
		b, err := c.MarshalAppend(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		var sv wrapperspb.StringValue
		if err := c.Unmarshal(b, &sv); err != nil || sv.GetValue() != "reflection" {
			t.Errorf("round trip = %q, %v", sv.GetValue(), err)
		}
	})
	t.Run("not a proto.Message", func(t *testing.T) {
		m := &notProto{fakeFields{Name: "x"}}
		if _, err := c.Marshal(m); err == nil || !strings.Contains(err.Error(), "proto.Message") {
			t.Errorf("Marshal err = %v", err)
		}
		if _, err := c.MarshalAppend(nil, m); err == nil || !strings.Contains(err.Error(), "proto.Message") {
			t.Errorf("MarshalAppend err = %v", err)
		}
		if err := c.Unmarshal([]byte{0x0A, 0x01, 'a'}, m); err == nil || !strings.Contains(err.Error(), "proto.Message") {
			t.Errorf("Unmarshal err = %v", err)
		}
		if m.unmarshalCalls != 0 {
			t.Error("UnmarshalVT ran on a value that is not a proto.Message")
		}
	})
}

// A message decoded on a fast path survives its input being overwritten,
// as a pooled read buffer is by the next frame.
func TestProtoFastPathDoesNotAlias(t *testing.T) {
	const text = "a body kept by a handler after it returned"
	for _, m := range []fake{new(vtMsg), new(gogoMsg)} {
		t.Run(fmt.Sprintf("%T", m), func(t *testing.T) {
			data := wantEncoding(text, []byte(text))
			if err := (ProtoCodec{}).Unmarshal(data, m); err != nil {
				t.Fatal(err)
			}
			for i := range data {
				data[i] = '#'
			}
			if f := m.fields(); f.Name != text || string(f.Data) != text {
				t.Errorf("decoded value changed with its input: %q %q", f.Name, f.Data)
			}
		})
	}
}

// The fast marshal paths write into the caller's buffer and allocate
// nothing when it has room; decoding allocates only what the message keeps.
func TestProtoFastPathAllocs(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c := ProtoCodec{}
	buf := make([]byte, 0, 256)
	tests := []struct {
		name            string
		m               fake
		marshal, decode float64 // most allocations allowed
	}{
		{"vtproto", &vtMsg{fakeFields{Name: "teleport", Data: []byte("data")}}, 0, 2},
		{"gogo", &gogoMsg{fakeFields{Name: "teleport", Data: []byte("data")}}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := c.Marshal(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() {
				if _, err := c.MarshalAppend(buf[:0], tt.m); err != nil {
					t.Fatal(err)
				}
			}); n > tt.marshal {
				t.Errorf("MarshalAppend: %.1f allocations, want at most %.0f", n, tt.marshal)
			}
			if n := testing.AllocsPerRun(100, func() {
				if err := c.Unmarshal(enc, tt.m); err != nil {
					t.Fatal(err)
				}
			}); n > tt.decode {
				t.Errorf("Unmarshal: %.1f allocations, want at most %.0f (the string and the bytes)", n, tt.decode)
			}
		})
	}
}

func BenchmarkProtoCodec(b *testing.B) {
	c := ProtoCodec{}
	name := strings.Repeat("n", 100)
	data := []byte(strings.Repeat("d", 400))
	msgs := []struct {
		name string
		m    interface{}
	}{
		{"vtproto", &vtMsg{fakeFields{Name: name, Data: data}}},
		{"gogo", &gogoMsg{fakeFields{Name: name, Data: data}}},
		{"reflection", wrapperspb.String(name + string(data))},
	}
	for _, tt := range msgs {
		enc, err := c.Marshal(tt.m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("MarshalAppend/"+tt.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if _, err := c.MarshalAppend(buf[:0], tt.m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Marshal/"+tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if _, err := c.Marshal(tt.m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Unmarshal/"+tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if err := c.Unmarshal(enc, tt.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
