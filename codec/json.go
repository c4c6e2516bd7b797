package codec

import "encoding/json"

// JSON codec identity.
const (
	IdJSON   byte   = 'j'
	NameJSON string = "json"
)

// JSONCodec encodes bodies with encoding/json.
type JSONCodec struct{}

// Id returns IdJSON.
func (JSONCodec) Id() byte { return IdJSON }

// Name returns NameJSON.
func (JSONCodec) Name() string { return NameJSON }

// Marshal returns the JSON encoding of v.
func (JSONCodec) Marshal(v interface{}) ([]byte, error) {
	return json.Marshal(v)
}

// Unmarshal decodes JSON data into v.
func (JSONCodec) Unmarshal(data []byte, v interface{}) error {
	return json.Unmarshal(data, v)
}
