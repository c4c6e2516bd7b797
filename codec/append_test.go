package codec

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// MarshalAppend appends exactly what Marshal returns, after what dst held.
func TestMarshalAppendMatchesMarshal(t *testing.T) {
	s := "héllo"
	b := []byte("raw")
	tests := []struct {
		name string
		c    Codec
		v    interface{}
	}{
		{"protobuf", ProtoCodec{}, wrapperspb.String("teleport")},
		{"string", StringCodec{}, s},
		{"*string", StringCodec{}, &s},
		{"[]byte", StringCodec{}, b},
		{"*[]byte", StringCodec{}, &b},
		{"nil *string", StringCodec{}, (*string)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tt.c.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.c.(AppendMarshaler).MarshalAppend([]byte("prefix"), tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("MarshalAppend = %q, want prefix + %q", got, want)
			}
		})
	}
	for _, c := range []Codec{ProtoCodec{}, StringCodec{}} {
		if _, err := c.(AppendMarshaler).MarshalAppend(nil, 42); err == nil {
			t.Errorf("%s: MarshalAppend of an int succeeded", c.Name())
		}
	}
}
