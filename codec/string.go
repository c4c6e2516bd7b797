package codec

import "fmt"

// String codec identity.
const (
	IdString   byte   = 's'
	NameString string = "string"
)

// StringCodec passes text and raw bytes through unchanged. It accepts
// string, *string, []byte and *[]byte.
type StringCodec struct{}

// Id returns IdString.
func (StringCodec) Id() byte { return IdString }

// Name returns NameString.
func (StringCodec) Name() string { return NameString }

// Marshal returns the bytes of v. A []byte is returned as is, not copied.
func (StringCodec) Marshal(v interface{}) ([]byte, error) {
	switch s := v.(type) {
	case string:
		return []byte(s), nil
	case *string:
		if s == nil {
			return nil, nil
		}
		return []byte(*s), nil
	case []byte:
		return s, nil
	case *[]byte:
		if s == nil {
			return nil, nil
		}
		return *s, nil
	}
	return nil, fmt.Errorf("codec: string: cannot marshal %T: want string, *string, []byte or *[]byte", v)
}

// MarshalAppend appends the bytes of v to dst.
func (c StringCodec) MarshalAppend(dst []byte, v interface{}) ([]byte, error) {
	switch s := v.(type) {
	case string:
		return append(dst, s...), nil
	case *string:
		if s != nil {
			return append(dst, *s...), nil
		}
		return dst, nil
	case []byte:
		return append(dst, s...), nil
	case *[]byte:
		if s != nil {
			return append(dst, *s...), nil
		}
		return dst, nil
	}
	_, err := c.Marshal(v)
	return nil, err
}

// Unmarshal copies data into *string or *[]byte. It always copies: the
// caller reuses data, and a handler may keep what it was given.
func (StringCodec) Unmarshal(data []byte, v interface{}) error {
	switch s := v.(type) {
	case *string:
		if s == nil {
			return fmt.Errorf("codec: string: cannot unmarshal into a nil *string")
		}
		*s = string(data)
		return nil
	case *[]byte:
		if s == nil {
			return fmt.Errorf("codec: string: cannot unmarshal into a nil *[]byte")
		}
		*s = append((*s)[:0], data...)
		return nil
	}
	return fmt.Errorf("codec: string: cannot unmarshal into %T: want *string or *[]byte", v)
}
