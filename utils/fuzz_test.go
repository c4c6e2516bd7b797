package utils_test

import (
	"errors"
	"net/url"
	"reflect"
	"testing"

	"github.com/teleport-go/teleport/utils"
)

// FuzzArgsParse feeds arbitrary metadata bytes, as a hostile peer may send
// them, to Args.ParseBytes. Parsing must never panic; a successful parse
// must survive QueryString → ParseBytes unchanged, and agree with net/url.
// Seeds beyond the ones below live in testdata/fuzz/FuzzArgsParse.
func FuzzArgsParse(f *testing.F) {
	for _, s := range []string{
		"",
		"a=1&b=2",
		"a=1&a=2&&b",
		"%",
		"%4",
		"%zz",
		"=&=",
		"k+1=v%20w%2B%26%3D",
		typicalMeta,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var a utils.Args
		if err := a.ParseBytes(in); err != nil {
			if !errors.Is(err, utils.ErrBadEscape) {
				t.Fatalf("ParseBytes(%q): unexpected error %v", in, err)
			}
			if _, uerr := url.ParseQuery(string(in)); uerr == nil {
				t.Fatalf("ParseBytes(%q) failed (%v) but url.ParseQuery accepted it", in, err)
			}
			return
		}
		first := pairsOf(&a)
		q := string(a.QueryString())

		var b utils.Args
		if err := b.ParseBytes([]byte(q)); err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", q, in, err)
		}
		if second := pairsOf(&b); !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip of %q via %q: %q != %q", in, q, first, second)
		}
		if q2 := b.String(); q2 != q {
			t.Fatalf("QueryString not stable: %q then %q", q, q2)
		}

		// Our wire form is plain URL query encoding: net/url agrees on it.
		if len(first) < 1000 {
			got, err := url.ParseQuery(q)
			if err != nil {
				t.Fatalf("url.ParseQuery(%q): %v", q, err)
			}
			if want := urlValuesOf(first); len(first) > 0 && !reflect.DeepEqual(got, want) {
				t.Fatalf("url.ParseQuery(%q) = %q, want %q", q, got, want)
			}
		}
	})
}
