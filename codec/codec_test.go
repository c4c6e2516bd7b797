package codec_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go.uber.org/goleak"
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/teleport-go/teleport/codec"
)

// fakeCodec is a codec with any identity; it is only registered where a
// test expects Reg to panic before changing the registry.
type fakeCodec struct {
	id   byte
	name string
}

func (c fakeCodec) Id() byte                            { return c.id }
func (c fakeCodec) Name() string                        { return c.name }
func (c fakeCodec) Marshal(interface{}) ([]byte, error) { return nil, nil }
func (c fakeCodec) Unmarshal([]byte, interface{}) error { return nil }

func TestDefaultCodecs(t *testing.T) {
	tests := []struct {
		id   byte
		name string
		typ  codec.Codec
	}{
		{'j', "json", codec.JSONCodec{}},
		{'p', "protobuf", codec.ProtoCodec{}},
		{'s', "string", codec.StringCodec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := codec.Get(tt.id)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.id, err)
			}
			if c.Id() != tt.id || c.Name() != tt.name {
				t.Errorf("Get(%q) = {%q, %q}, want {%q, %q}", tt.id, c.Id(), c.Name(), tt.id, tt.name)
			}
			if reflect.TypeOf(c) != reflect.TypeOf(tt.typ) {
				t.Errorf("Get(%q) is %T, want %T", tt.id, c, tt.typ)
			}
			byName, err := codec.GetByName(tt.name)
			if err != nil {
				t.Fatalf("GetByName(%q): %v", tt.name, err)
			}
			if byName.Id() != tt.id {
				t.Errorf("GetByName(%q).Id() = %q, want %q", tt.name, byName.Id(), tt.id)
			}
		})
	}
	if codec.IdJSON != 'j' || codec.IdProtobuf != 'p' || codec.IdString != 's' ||
		codec.NameJSON != "json" || codec.NameProtobuf != "protobuf" || codec.NameString != "string" {
		t.Error("exported identity constants do not match the spec")
	}
	if codec.NilCodecId != 0 || codec.NilCodecName != "" {
		t.Error("NilCodecId/NilCodecName do not match the spec")
	}
}

func TestGetUnknown(t *testing.T) {
	for _, id := range []byte{codec.NilCodecId, 'z', 0xFF} {
		t.Run(fmt.Sprintf("id=%d", id), func(t *testing.T) {
			c, err := codec.Get(id)
			if err == nil || c != nil {
				t.Fatalf("Get(%d) = %v, %v; want nil and an error", id, c, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(id)) {
				t.Errorf("error %q does not name the id %d", err, id)
			}
			if _, err := codec.Marshal(id, "x"); err == nil {
				t.Errorf("Marshal with unknown id %d: no error", id)
			}
			var s string
			if err := codec.Unmarshal(id, []byte("x"), &s); err == nil {
				t.Errorf("Unmarshal with unknown id %d: no error", id)
			}
		})
	}
	for _, name := range []string{"", "nope", "JSON", "xml"} {
		t.Run("name="+name, func(t *testing.T) {
			c, err := codec.GetByName(name)
			if err == nil || c != nil {
				t.Fatalf("GetByName(%q) = %v, %v; want nil and an error", name, c, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Errorf("error %q does not name %q", err, name)
			}
		})
	}
}

// regPanic calls codec.Reg(c) and returns the panic message, "" if none.
func regPanic(c codec.Codec) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	codec.Reg(c)
	return ""
}

func TestRegPanics(t *testing.T) {
	tests := []struct {
		name  string
		c     codec.Codec
		wants []string // substrings of the panic message
	}{
		{"id 0", fakeCodec{0, "zero-codec"}, []string{"zero-codec", "0"}},
		{"duplicate id", fakeCodec{'j', "other-json"}, []string{"other-json", `"json"`}},
		{"duplicate name", fakeCodec{0xF3, "string"}, []string{`"string"`}},
		{"duplicate both", fakeCodec{'p', "protobuf"}, []string{"protobuf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := regPanic(tt.c)
			if msg == "" {
				t.Fatalf("Reg(%+v) did not panic", tt.c)
			}
			for _, w := range tt.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("panic %q does not mention %q", msg, w)
				}
			}
		})
	}
	// A refused registration leaves the registry as it was.
	if c, err := codec.Get('j'); err != nil || c.Name() != "json" {
		t.Errorf("Get('j') after refused Reg = %v, %v", c, err)
	}
	if c, err := codec.Get(0xF3); err == nil {
		t.Errorf("refused codec is registered under 0xF3: %v", c)
	}
	if c, err := codec.GetByName("zero-codec"); err == nil {
		t.Errorf("refused codec is registered as zero-codec: %v", c)
	}
}

var regOnce sync.Once

// TestRegConcurrentWithGet registers new codecs while other goroutines look
// codecs up, for the race detector. Registration happens once per process
// so that -count=N still passes.
func TestRegConcurrentWithGet(t *testing.T) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := codec.Get('j'); err != nil {
					t.Error(err)
					return
				}
				if _, err := codec.GetByName("string"); err != nil {
					t.Error(err)
					return
				}
				_, _ = codec.Get(0xE0)
				_, _ = codec.GetByName("concurrent-0")
			}
		}()
	}
	regOnce.Do(func() {
		for i := 0; i < 8; i++ {
			codec.Reg(fakeCodec{byte(0xE0 + i), fmt.Sprintf("concurrent-%d", i)})
		}
	})
	close(stop)
	wg.Wait()
	for i := 0; i < 8; i++ {
		c, err := codec.Get(byte(0xE0 + i))
		if err != nil || c.Name() != fmt.Sprintf("concurrent-%d", i) {
			t.Errorf("Get(%#x) = %v, %v", 0xE0+i, c, err)
		}
	}
}

type jsonBody struct {
	Name  string            `json:"name"`
	N     int               `json:"n"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	Raw   []byte            `json:"raw"`
	Next  *jsonBody         `json:"next,omitempty"`
}

func TestJSONCodec(t *testing.T) {
	c, _ := codec.Get(codec.IdJSON)
	in := &jsonBody{
		Name:  "héllo \"quoted\" <tag>",
		N:     -42,
		Tags:  []string{"a", "", "c"},
		Attrs: map[string]string{"k": "v"},
		Raw:   []byte{0, 1, 2, 0xFF},
		Next:  &jsonBody{Name: "child"},
	}
	data, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("Marshal produced invalid JSON: %s", data)
	}
	var out jsonBody
	if err := c.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip = %+v, want %+v", out, *in)
	}

	errTests := []struct {
		name string
		data string
		v    interface{}
	}{
		{"invalid JSON", `{"name":`, &out},
		{"wrong type", `{"n":"str"}`, &out},
		{"non-pointer target", `{}`, out},
		{"nil target", `{}`, nil},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Unmarshal([]byte(tt.data), tt.v); err == nil {
				t.Errorf("Unmarshal(%s, %T): no error", tt.data, tt.v)
			}
		})
	}
	if _, err := c.Marshal(make(chan int)); err == nil {
		t.Error("Marshal(chan): no error")
	}
}

func TestProtoCodec(t *testing.T) {
	c, _ := codec.Get(codec.IdProtobuf)
	t.Run("round trip", func(t *testing.T) {
		for _, s := range []string{"", "hello", strings.Repeat("é", 1000)} {
			data, err := c.Marshal(wrapperspb.String(s))
			if err != nil {
				t.Fatal(err)
			}
			out := wrapperspb.String("stale content replaced")
			if err := c.Unmarshal(data, out); err != nil {
				t.Fatal(err)
			}
			if out.GetValue() != s {
				t.Errorf("round trip of %q = %q", s, out.GetValue())
			}
		}
		data, err := codec.Marshal(codec.IdProtobuf, wrapperspb.Int64(-7))
		if err != nil {
			t.Fatal(err)
		}
		var n wrapperspb.Int64Value
		if err := codec.Unmarshal(codec.IdProtobuf, data, &n); err != nil || n.GetValue() != -7 {
			t.Errorf("Int64Value round trip = %d, %v", n.GetValue(), err)
		}
	})
	t.Run("non-proto marshal", func(t *testing.T) {
		for _, v := range []interface{}{42, "str", &struct{ A int }{}, nil} {
			_, err := c.Marshal(v)
			if err == nil {
				t.Fatalf("Marshal(%T): no error", v)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%T", v)) || !strings.Contains(err.Error(), "proto.Message") {
				t.Errorf("Marshal(%T) error %q does not name the type and proto.Message", v, err)
			}
		}
	})
	t.Run("non-proto unmarshal", func(t *testing.T) {
		data, _ := c.Marshal(wrapperspb.String("x"))
		var s string
		for _, v := range []interface{}{&s, s, map[string]int{}, nil} {
			err := c.Unmarshal(data, v)
			if err == nil {
				t.Fatalf("Unmarshal into %T: no error", v)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%T", v)) || !strings.Contains(err.Error(), "proto.Message") {
				t.Errorf("Unmarshal into %T error %q does not name the type and proto.Message", v, err)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, data := range [][]byte{{0xFF}, {0x0A, 0x05, 'a'}, {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}} {
			if err := c.Unmarshal(data, new(wrapperspb.StringValue)); err == nil {
				t.Errorf("Unmarshal(%x): no error", data)
			}
		}
	})
}

func TestStringCodecMarshal(t *testing.T) {
	c, _ := codec.Get(codec.IdString)
	s := "text"
	b := []byte("bytes")
	var nilS *string
	var nilB *[]byte
	tests := []struct {
		name string
		v    interface{}
		want []byte
	}{
		{"string", "hello", []byte("hello")},
		{"empty string", "", []byte{}},
		{"*string", &s, []byte("text")},
		{"nil *string", nilS, nil},
		{"[]byte", b, []byte("bytes")},
		{"nil []byte", []byte(nil), nil},
		{"*[]byte", &b, []byte("bytes")},
		{"nil *[]byte", nilB, nil},
		{"binary", "\x00\xff", []byte{0, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Marshal = %q, want %q", got, tt.want)
			}
		})
	}
	for _, v := range []interface{}{42, []string{"a"}, &struct{}{}, nil, new(int), [3]byte{}} {
		t.Run(fmt.Sprintf("unsupported %T", v), func(t *testing.T) {
			_, err := c.Marshal(v)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%T", v)) {
				t.Errorf("error %q does not name %T", err, v)
			}
		})
	}
}

func TestStringCodecUnmarshal(t *testing.T) {
	c, _ := codec.Get(codec.IdString)
	t.Run("*string", func(t *testing.T) {
		s := "stale"
		if err := c.Unmarshal([]byte("hello"), &s); err != nil || s != "hello" {
			t.Errorf("got %q, %v", s, err)
		}
		if err := c.Unmarshal(nil, &s); err != nil || s != "" {
			t.Errorf("empty: got %q, %v", s, err)
		}
	})
	t.Run("*[]byte", func(t *testing.T) {
		b := []byte("stale content")
		if err := c.Unmarshal([]byte("hi"), &b); err != nil || string(b) != "hi" {
			t.Errorf("got %q, %v", b, err)
		}
		var nb []byte
		if err := c.Unmarshal([]byte{0, 0xff}, &nb); err != nil || !bytes.Equal(nb, []byte{0, 0xff}) {
			t.Errorf("into nil slice: got %q, %v", nb, err)
		}
		if err := c.Unmarshal(nil, &nb); err != nil || len(nb) != 0 {
			t.Errorf("empty: got %q, %v", nb, err)
		}
	})
	var s string
	var b []byte
	var nilS *string
	var nilB *[]byte
	tests := []struct {
		v    interface{}
		want string // in the error message
	}{
		{s, "string"},
		{b, "[]uint8"},
		{nilS, "nil *string"},
		{nilB, "nil *[]byte"},
		{new(int), "*int"},
		{nil, "<nil>"},
		{&[]string{}, "*[]string"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("unsupported %T", tt.v), func(t *testing.T) {
			err := c.Unmarshal([]byte("x"), tt.v)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestDecodedValuesDoNotAliasInput decodes from a buffer, overwrites the
// buffer as a pooled read buffer is overwritten by the next frame, and checks
// the decoded value is unchanged. teleport v3's string codec failed this.
func TestDecodedValuesDoNotAliasInput(t *testing.T) {
	const text = "a body kept by a handler after it returned"
	tests := []struct {
		name   string
		id     byte
		encode func() []byte
		decode func(c codec.Codec, data []byte) (func() string, error)
	}{
		{"string/*string", codec.IdString,
			func() []byte { return []byte(text) },
			func(c codec.Codec, data []byte) (func() string, error) {
				var s string
				err := c.Unmarshal(data, &s)
				return func() string { return s }, err
			}},
		{"string/*[]byte", codec.IdString,
			func() []byte { return []byte(text) },
			func(c codec.Codec, data []byte) (func() string, error) {
				var b []byte
				err := c.Unmarshal(data, &b)
				return func() string { return string(b) }, err
			}},
		{"string/*[]byte with large capacity", codec.IdString,
			func() []byte { return []byte(text) },
			func(c codec.Codec, data []byte) (func() string, error) {
				b := make([]byte, 0, 4096)
				err := c.Unmarshal(data, &b)
				return func() string { return string(b) }, err
			}},
		{"json/struct", codec.IdJSON,
			func() []byte { d, _ := json.Marshal(jsonBody{Name: text, Raw: []byte(text)}); return d },
			func(c codec.Codec, data []byte) (func() string, error) {
				var v jsonBody
				err := c.Unmarshal(data, &v)
				return func() string { return v.Name + "|" + string(v.Raw) }, err
			}},
		{"json/RawMessage", codec.IdJSON,
			func() []byte { d, _ := json.Marshal(text); return d },
			func(c codec.Codec, data []byte) (func() string, error) {
				var v json.RawMessage
				err := c.Unmarshal(data, &v)
				return func() string { return string(v) }, err
			}},
		{"protobuf/StringValue", codec.IdProtobuf,
			func() []byte { d, _ := codec.ProtoCodec{}.Marshal(wrapperspb.String(text)); return d },
			func(c codec.Codec, data []byte) (func() string, error) {
				v := new(wrapperspb.StringValue)
				err := c.Unmarshal(data, v)
				return func() string { return v.GetValue() }, err
			}},
		{"protobuf/BytesValue", codec.IdProtobuf,
			func() []byte { d, _ := codec.ProtoCodec{}.Marshal(wrapperspb.Bytes([]byte(text))); return d },
			func(c codec.Codec, data []byte) (func() string, error) {
				v := new(wrapperspb.BytesValue)
				err := c.Unmarshal(data, v)
				return func() string { return string(v.GetValue()) }, err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := codec.Get(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			data := tt.encode()
			get, err := tt.decode(c, data)
			if err != nil {
				t.Fatal(err)
			}
			before := get()
			if !strings.Contains(before, text) {
				t.Fatalf("decoded %q, want it to contain %q", before, text)
			}
			for i := range data {
				data[i] = '#'
			}
			if after := get(); after != before {
				t.Errorf("decoded value changed with the input buffer: %q -> %q", before, after)
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := codec.Get(codec.IdJSON); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
