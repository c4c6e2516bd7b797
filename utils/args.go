package utils

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// ErrBadEscape is returned by Args.ParseBytes for a '%' that is not followed
// by two hexadecimal digits.
var ErrBadEscape = errors.New("utils: bad %-escape in query string")

// ErrTooManyPairs is returned by Args.ParseBytes for a query string of more
// than MaxArgsPairs pairs.
var ErrTooManyPairs = errors.New("utils: too many pairs in query string")

// MaxArgsPairs bounds the pairs ParseBytes accepts. Each pair costs some
// fifty bytes beyond its text, so without a bound a frame of "a&a&a…" would
// cost many times its size to parse.
const MaxArgsPairs = 1 << 16

// Args is ordered packet metadata: key/value pairs that may repeat.
//
// Its wire form is a URL query string (k1=v1&k2=v2), escaped byte for byte
// as teleport v3.0 writes it (see AppendQueryEscaped). The zero value is ready to use. An Args is not
// safe for concurrent use.
type Args struct {
	kvs []argsKV
	buf []byte // scratch for QueryString
}

type argsKV struct {
	key   []byte
	value []byte
}

var argsPool = sync.Pool{New: func() any { return new(Args) }}

// AcquireArgs returns an empty Args from a pool. Return it with ReleaseArgs
// when it is no longer used.
func AcquireArgs() *Args {
	return argsPool.Get().(*Args)
}

// ReleaseArgs resets a and returns it to the pool; a must not be used after.
func ReleaseArgs(a *Args) {
	a.Reset()
	argsPool.Put(a)
}

// Reset removes every pair, keeping the memory for reuse.
func (a *Args) Reset() {
	a.kvs = a.kvs[:0]
}

// Len returns the number of pairs, repeated keys counted each time.
func (a *Args) Len() int {
	return len(a.kvs)
}

// Set replaces every value of key with value (adding it when absent).
func (a *Args) Set(key, value string) {
	a.SetBytes(unsafeBytes(key), unsafeBytes(value))
}

// SetBytes is Set with byte-slice arguments, which it copies.
func (a *Args) SetBytes(key, value []byte) {
	for i := range a.kvs {
		if string(a.kvs[i].key) == string(key) {
			a.kvs[i].value = append(a.kvs[i].value[:0], value...)
			a.delFrom(i+1, key)
			return
		}
	}
	a.AddBytes(key, value)
}

// Add appends a pair, keeping any earlier values of key.
func (a *Args) Add(key, value string) {
	a.AddBytes(unsafeBytes(key), unsafeBytes(value))
}

// AddBytes is Add with byte-slice arguments, which it copies.
func (a *Args) AddBytes(key, value []byte) {
	kv := a.grow()
	kv.key = append(kv.key[:0], key...)
	kv.value = append(kv.value[:0], value...)
}

// grow extends kvs by one, reusing the memory of a pair removed earlier.
func (a *Args) grow() *argsKV {
	if len(a.kvs) < cap(a.kvs) {
		a.kvs = a.kvs[:len(a.kvs)+1]
	} else {
		a.kvs = append(a.kvs, argsKV{})
	}
	return &a.kvs[len(a.kvs)-1]
}

// Peek returns the first value of key, or nil when absent (an empty value
// is a non-nil empty slice). The slice is valid until a is changed.
func (a *Args) Peek(key string) []byte {
	for i := range a.kvs {
		if string(a.kvs[i].key) == key {
			if a.kvs[i].value == nil {
				return []byte{}
			}
			return a.kvs[i].value
		}
	}
	return nil
}

// PeekAll returns every value of key in order.
func (a *Args) PeekAll(key string) [][]byte {
	var vs [][]byte
	for i := range a.kvs {
		if string(a.kvs[i].key) == key {
			vs = append(vs, a.kvs[i].value)
		}
	}
	return vs
}

// Has reports whether key is present.
func (a *Args) Has(key string) bool {
	for i := range a.kvs {
		if string(a.kvs[i].key) == key {
			return true
		}
	}
	return false
}

// Del removes every pair with key.
func (a *Args) Del(key string) {
	a.delFrom(0, unsafeBytes(key))
}

// delFrom removes the pairs with key at index from or later, keeping order
// and moving the freed pairs' memory past the end for reuse.
func (a *Args) delFrom(from int, key []byte) {
	for i := from; i < len(a.kvs); {
		if string(a.kvs[i].key) != string(key) {
			i++
			continue
		}
		removed := a.kvs[i]
		copy(a.kvs[i:], a.kvs[i+1:])
		a.kvs[len(a.kvs)-1] = removed
		a.kvs = a.kvs[:len(a.kvs)-1]
	}
}

// VisitAll calls f for every pair in order. The slices are valid only
// during the call.
func (a *Args) VisitAll(f func(key, value []byte)) {
	for i := range a.kvs {
		f(a.kvs[i].key, a.kvs[i].value)
	}
}

// CopyTo makes dst an independent copy of a.
func (a *Args) CopyTo(dst *Args) {
	dst.Reset()
	for i := range a.kvs {
		dst.AddBytes(a.kvs[i].key, a.kvs[i].value)
	}
}

// QueryString returns the wire form, k1=v1&k2=v2, a pair with an empty
// value written as its key alone (but an empty key and value as "="). The slice is valid until a is changed.
func (a *Args) QueryString() []byte {
	a.buf = a.AppendBytes(a.buf[:0])
	return a.buf
}

// String returns the wire form as a string.
func (a *Args) String() string {
	return string(a.QueryString())
}

// AppendBytes appends the wire form to dst and returns the extended slice.
func (a *Args) AppendBytes(dst []byte) []byte {
	for i := range a.kvs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = AppendQueryEscaped(dst, a.kvs[i].key)
		// v3.0 writes a pair with no value as the key alone; a pair with
		// neither would vanish, so it keeps its '='.
		if len(a.kvs[i].value) > 0 || len(a.kvs[i].key) == 0 {
			dst = append(dst, '=')
			dst = AppendQueryEscaped(dst, a.kvs[i].value)
		}
	}
	return dst
}

// Parse is ParseBytes for a string.
func (a *Args) Parse(s string) error {
	return a.ParseBytes(unsafeBytes(s))
}

// ParseBytes replaces the content of a with the pairs of the query string b.
// A pair without '=' is a key with an empty value; empty pairs are skipped.
// More than MaxArgsPairs pairs is ErrTooManyPairs. On error a holds the
// pairs parsed before the bad one.
func (a *Args) ParseBytes(b []byte) error {
	a.Reset()
	// Size the pair table once: grown by append, it would allocate
	// several times its final size along the way.
	if n := min(bytes.Count(b, []byte{'&'})+1, MaxArgsPairs+1); cap(a.kvs) < n {
		a.kvs = slices.Grow(a.kvs, n)
	}
	for len(b) > 0 {
		var pair []byte
		pair, b = cutByte(b, '&')
		if len(pair) == 0 {
			continue
		}
		if len(a.kvs) == MaxArgsPairs {
			return fmt.Errorf("%w: more than %d", ErrTooManyPairs, MaxArgsPairs)
		}
		key, value := cutByte(pair, '=')
		kv := a.grow()
		var err error
		if kv.key, err = AppendQueryUnescaped(kv.key[:0], key); err != nil {
			a.kvs = a.kvs[:len(a.kvs)-1]
			return err
		}
		if kv.value, err = AppendQueryUnescaped(kv.value[:0], value); err != nil {
			a.kvs = a.kvs[:len(a.kvs)-1]
			return err
		}
	}
	return nil
}

// cutByte splits b around the first sep; rest is empty when sep is absent.
func cutByte(b []byte, sep byte) (before, rest []byte) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// unsafeBytes views s as bytes without copying; the result must not be
// written to.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
