package utils_test

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/utils"
)

// pair is one key/value of an Args, copied out for comparison.
type pair struct{ k, v string }

// pairsOf copies the pairs of a, in order.
func pairsOf(a *utils.Args) []pair {
	var ps []pair
	a.VisitAll(func(k, v []byte) { ps = append(ps, pair{string(k), string(v)}) })
	return ps
}

// argsOf builds an Args by adding ps in order.
func argsOf(ps ...pair) *utils.Args {
	a := new(utils.Args)
	for _, p := range ps {
		a.Add(p.k, p.v)
	}
	return a
}

func checkPairs(t *testing.T, a *utils.Args, want []pair) {
	t.Helper()
	got := pairsOf(a)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pairs = %q, want %q", got, want)
	}
	if a.Len() != len(want) {
		t.Fatalf("Len() = %d, want %d", a.Len(), len(want))
	}
}

func TestArgsZeroValue(t *testing.T) {
	var a utils.Args
	if a.Len() != 0 || a.Has("a") || a.Peek("a") != nil || a.PeekAll("a") != nil {
		t.Fatal("zero Args is not empty")
	}
	if s := a.String(); s != "" {
		t.Fatalf("String() = %q, want empty", s)
	}
	a.Del("a") // must not panic
	a.Reset()
	a.Set("a", "1")
	checkPairs(t, &a, []pair{{"a", "1"}})
}

func TestArgsMutations(t *testing.T) {
	tests := []struct {
		name string
		do   func(a *utils.Args)
		want []pair
	}{
		{"add keeps duplicates in order", func(a *utils.Args) {
			a.Add("a", "1")
			a.Add("b", "2")
			a.Add("a", "3")
		}, []pair{{"a", "1"}, {"b", "2"}, {"a", "3"}}},
		{"set adds when absent", func(a *utils.Args) {
			a.Add("a", "1")
			a.Set("b", "2")
		}, []pair{{"a", "1"}, {"b", "2"}}},
		{"set replaces single", func(a *utils.Args) {
			a.Add("a", "1")
			a.Add("b", "2")
			a.Set("a", "x")
		}, []pair{{"a", "x"}, {"b", "2"}}},
		{"set replaces all duplicates at the first position", func(a *utils.Args) {
			a.Add("x", "0")
			a.Add("a", "1")
			a.Add("b", "2")
			a.Add("a", "3")
			a.Add("c", "4")
			a.Add("a", "5")
			a.Set("a", "X")
		}, []pair{{"x", "0"}, {"a", "X"}, {"b", "2"}, {"c", "4"}}},
		{"set to a longer value", func(a *utils.Args) {
			a.Add("a", "1")
			a.Set("a", strings.Repeat("v", 100))
		}, []pair{{"a", strings.Repeat("v", 100)}}},
		{"set empty value", func(a *utils.Args) {
			a.Add("a", "1")
			a.Set("a", "")
		}, []pair{{"a", ""}}},
		{"empty key", func(a *utils.Args) {
			a.Add("", "v")
			a.Set("", "w")
		}, []pair{{"", "w"}}},
		{"del repeated key", func(a *utils.Args) {
			a.Add("a", "1")
			a.Add("b", "2")
			a.Add("a", "3")
			a.Add("a", "4")
			a.Add("c", "5")
			a.Add("a", "6")
			a.Del("a")
		}, []pair{{"b", "2"}, {"c", "5"}}},
		{"del absent key", func(a *utils.Args) {
			a.Add("a", "1")
			a.Del("z")
		}, []pair{{"a", "1"}}},
		{"del everything", func(a *utils.Args) {
			a.Add("a", "1")
			a.Add("a", "2")
			a.Del("a")
		}, nil},
		{"add after del reuses memory without mixing values", func(a *utils.Args) {
			a.Add("a", "first-long-value")
			a.Add("b", "2")
			a.Add("a", "second")
			a.Del("a")
			a.Add("c", "3")
			a.Add("d", "4")
			a.Add("e", "5")
		}, []pair{{"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}},
		{"reset then add", func(a *utils.Args) {
			a.Add("a", "long-value-1")
			a.Add("b", "long-value-2")
			a.Reset()
			a.Add("c", "3")
		}, []pair{{"c", "3"}}},
		{"bytes variants", func(a *utils.Args) {
			a.AddBytes([]byte("a"), []byte("1"))
			a.AddBytes([]byte("a"), []byte("2"))
			a.SetBytes([]byte("a"), []byte("3"))
			a.AddBytes([]byte("b"), nil)
		}, []pair{{"a", "3"}, {"b", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := new(utils.Args)
			tt.do(a)
			checkPairs(t, a, tt.want)
		})
	}
}

func TestArgsBytesInputsAreCopied(t *testing.T) {
	var a utils.Args
	k, v := []byte("key"), []byte("value")
	a.AddBytes(k, v)
	k2, v2 := []byte("set"), []byte("val2")
	a.SetBytes(k2, v2)
	for _, b := range [][]byte{k, v, k2, v2} {
		for i := range b {
			b[i] = '!'
		}
	}
	checkPairs(t, &a, []pair{{"key", "value"}, {"set", "val2"}})
}

func TestArgsLookups(t *testing.T) {
	a := argsOf(pair{"a", "1"}, pair{"b", ""}, pair{"a", "2"}, pair{"", "e"})
	tests := []struct {
		key     string
		has     bool
		peek    string
		peekAll []string
	}{
		{"a", true, "1", []string{"1", "2"}},
		{"b", true, "", []string{""}},
		{"", true, "e", []string{"e"}},
		{"z", false, "", nil},
		{"A", false, "", nil},
	}
	for _, tt := range tests {
		t.Run("key="+tt.key, func(t *testing.T) {
			if got := a.Has(tt.key); got != tt.has {
				t.Errorf("Has = %v, want %v", got, tt.has)
			}
			p := a.Peek(tt.key)
			if string(p) != tt.peek {
				t.Errorf("Peek = %q, want %q", p, tt.peek)
			}
			if !tt.has && p != nil {
				t.Errorf("Peek of absent key = %q, want nil", p)
			}
			var all []string
			for _, v := range a.PeekAll(tt.key) {
				all = append(all, string(v))
			}
			if !slices.Equal(all, tt.peekAll) || (all == nil) != (tt.peekAll == nil) {
				t.Errorf("PeekAll = %q, want %q", all, tt.peekAll)
			}
		})
	}
}

func TestArgsVisitAllOrder(t *testing.T) {
	want := []pair{{"z", "1"}, {"a", "2"}, {"m", "3"}, {"a", "4"}}
	a := argsOf(want...)
	checkPairs(t, a, want)
	n := 0
	a.VisitAll(func(k, v []byte) { n++ })
	if n != len(want) {
		t.Fatalf("VisitAll called %d times, want %d", n, len(want))
	}
}

func TestArgsCopyTo(t *testing.T) {
	src := argsOf(pair{"a", "1"}, pair{"b", "2"}, pair{"a", "3"})
	dst := argsOf(pair{"old", "x"}, pair{"older", "y"}, pair{"oldest", "z"}, pair{"more", "w"})
	src.CopyTo(dst)
	checkPairs(t, dst, []pair{{"a", "1"}, {"b", "2"}, {"a", "3"}})

	// The copy is independent both ways.
	src.Set("a", "changed")
	src.Add("c", "new")
	dst.Set("b", "dst-only")
	checkPairs(t, dst, []pair{{"a", "1"}, {"b", "dst-only"}, {"a", "3"}})
	checkPairs(t, src, []pair{{"a", "changed"}, {"b", "2"}, {"c", "new"}})

	// Copying an empty Args empties dst.
	new(utils.Args).CopyTo(dst)
	checkPairs(t, dst, nil)
}

func TestArgsReset(t *testing.T) {
	a := argsOf(pair{"a", "1"}, pair{"b", "2"})
	_ = a.QueryString()
	a.Reset()
	if a.Len() != 0 || a.Has("a") || a.String() != "" {
		t.Fatalf("after Reset: Len=%d String=%q", a.Len(), a.String())
	}
}

func TestArgsQueryString(t *testing.T) {
	tests := []struct {
		name string
		in   []pair
		want string
	}{
		{"empty", nil, ""},
		{"one", []pair{{"a", "1"}}, "a=1"},
		{"order and duplicates", []pair{{"b", "2"}, {"a", "1"}, {"b", "3"}}, "b=2&a=1&b=3"},
		{"kept as they are", []pair{{"aZ09-_.*", "-_.*"}}, "aZ09-_.*=-_.*"},
		{"tilde escaped", []pair{{"~", "a~"}}, "%7E=a%7E"},
		{"space is %20", []pair{{"a b", "c d"}}, "a%20b=c%20d"},
		{"plus escaped", []pair{{"+", "1+1"}}, "%2B=1%2B1"},
		{"separators escaped", []pair{{"a&b=c", "x=y&z"}}, "a%26b%3Dc=x%3Dy%26z"},
		{"percent escaped", []pair{{"%", "100%"}}, "%25=100%25"},
		{"unicode", []pair{{"é", "日本"}}, "%C3%A9=%E6%97%A5%E6%9C%AC"},
		{"control bytes", []pair{{"\x00", "\r\n\x7f\xff"}}, "%00=%0D%0A%7F%FF"},
		{"empty value is the key alone", []pair{{"e", ""}, {"k", "v"}}, "e&k=v"},
		{"empty key and value", []pair{{"", ""}, {"", "v"}, {"k", ""}}, "=&=v&k"},
		{"reserved url chars", []pair{{"/?#[]", ";:@!$'()*,"}}, "%2F%3F%23%5B%5D=%3B%3A%40%21%24%27%28%29*%2C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := argsOf(tt.in...)
			if got := string(a.QueryString()); got != tt.want {
				t.Errorf("QueryString() = %q, want %q", got, tt.want)
			}
			if got := a.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := string(a.AppendBytes([]byte("prefix?"))); got != "prefix?"+tt.want {
				t.Errorf("AppendBytes(prefix) = %q, want %q", got, "prefix?"+tt.want)
			}
		})
	}
}

func TestArgsParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []pair
	}{
		{"empty", "", nil},
		{"simple", "a=1&b=2", []pair{{"a", "1"}, {"b", "2"}}},
		{"repeated key", "a=1&a=2&b=3&a=4", []pair{{"a", "1"}, {"a", "2"}, {"b", "3"}, {"a", "4"}}},
		{"empty pairs skipped", "a=1&&b=2", []pair{{"a", "1"}, {"b", "2"}}},
		{"leading and trailing ampersands", "&&a=1&", []pair{{"a", "1"}}},
		{"only ampersands", "&&&", nil},
		{"key without equals", "a", []pair{{"a", ""}}},
		{"key without equals among others", "a=1&flag&b=2", []pair{{"a", "1"}, {"flag", ""}, {"b", "2"}}},
		{"empty value", "a=", []pair{{"a", ""}}},
		{"empty key", "=v", []pair{{"", "v"}}},
		{"lone equals", "=", []pair{{"", ""}}},
		{"equals in value", "a=1=2", []pair{{"a", "1=2"}}},
		{"plus is space", "a+b=c+d", []pair{{"a b", "c d"}}},
		{"escapes upper and lower case", "%41%4a%4A=%e9%C3%A9", []pair{{"AJJ", "\xe9é"}}},
		{"escaped separators", "a%26b%3D=%26%3D%25%2B", []pair{{"a&b=", "&=%+"}}},
		{"escaped control bytes", "%00=%0d%0A", []pair{{"\x00", "\r\n"}}},
		{"raw bytes kept", "k\xff=\x01", []pair{{"k\xff", "\x01"}}},
		{"semicolon is not a separator", "a=1;b=2", []pair{{"a", "1;b=2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := argsOf(pair{"stale", "pair"}) // Parse replaces the content.
			if err := a.Parse(tt.in); err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			checkPairs(t, a, tt.want)

			b := new(utils.Args)
			if err := b.ParseBytes([]byte(tt.in)); err != nil {
				t.Fatalf("ParseBytes(%q): %v", tt.in, err)
			}
			checkPairs(t, b, tt.want)
		})
	}
}

func TestArgsParseBadEscape(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		before []pair // the pairs parsed before the bad one
	}{
		{"lone percent", "%", nil},
		{"one hex digit", "%4", nil},
		{"non-hex digits", "%zz", nil},
		{"second digit bad", "%4g", nil},
		{"first digit bad", "%g4", nil},
		{"percent at end of key", "ab%=1", nil},
		{"bad escape in value", "a=%", nil},
		{"short escape in value", "a=%4", nil},
		{"non-hex in value", "a=%zz", nil},
		{"after good pairs", "a=1&b=2&c=%zz&d=4", []pair{{"a", "1"}, {"b", "2"}}},
		{"bad key after good pair", "a=1&%x=2", []pair{{"a", "1"}}},
		{"percent then separator", "a=%&b=1", nil},
		{"percent then two chars spanning separator", "a=%4&b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := new(utils.Args)
			err := a.Parse(tt.in)
			if !errors.Is(err, utils.ErrBadEscape) {
				t.Fatalf("Parse(%q) error = %v, want ErrBadEscape", tt.in, err)
			}
			checkPairs(t, a, tt.before)

			// The same input must fail in net/url too: we are no more lenient.
			if _, uerr := url.ParseQuery(tt.in); uerr == nil {
				t.Errorf("url.ParseQuery(%q) accepted what we reject", tt.in)
			}
		})
	}
}

// trickyPairs are keys and values needing every kind of escaping.
var trickyPairs = []pair{
	{"plain", "value"},
	{"with space", "a b  c "},
	{"amp&ersand", "x&y&&z"},
	{"eq=uals", "=a==b="},
	{"per%cent", "%41%%"},
	{"pl+us", "1+1=2"},
	{"unicode é 日本", "😀 ünïcödé"},
	{"\x00\x01\x1f\x7f", "\t\r\n\x00"},
	{"\xff\xfe", "\x80invalid-utf8\xc3"},
	{"", ""},
	{"", "empty key"},
	{"empty value", ""},
	{"dup", "1"},
	{"dup", "2"},
	{"semi;colon", "a;b"},
	{"reserved /?#[]@", "!$'()*,:"},
	{"unreserved-_.~", "-_.~"},
}

func TestArgsRoundTrip(t *testing.T) {
	for _, p := range trickyPairs {
		t.Run(strings.ToValidUTF8(p.k, "?"), func(t *testing.T) {
			a := argsOf(p)
			var b utils.Args
			if err := b.ParseBytes(a.QueryString()); err != nil {
				t.Fatalf("ParseBytes(%q): %v", a.QueryString(), err)
			}
			checkPairs(t, &b, []pair{p})
		})
	}
	t.Run("all together", func(t *testing.T) {
		a := argsOf(trickyPairs...)
		var b utils.Args
		if err := b.ParseBytes(a.QueryString()); err != nil {
			t.Fatalf("ParseBytes(%q): %v", a.QueryString(), err)
		}
		checkPairs(t, &b, trickyPairs)
	})
}

func TestArgsParseDoesNotAliasInput(t *testing.T) {
	in := []byte("key=value&k2=v%20two")
	var a utils.Args
	if err := a.ParseBytes(in); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	checkPairs(t, &a, []pair{{"key", "value"}, {"k2", "v two"}})
}

// urlValuesOf groups pairs the way url.Values does.
func urlValuesOf(ps []pair) url.Values {
	v := url.Values{}
	for _, p := range ps {
		v[p.k] = append(v[p.k], p.v)
	}
	return v
}

func TestArgsNetURLCompat(t *testing.T) {
	t.Run("url.ParseQuery reads our QueryString", func(t *testing.T) {
		for _, p := range trickyPairs {
			a := argsOf(p)
			got, err := url.ParseQuery(a.String())
			if err != nil {
				t.Fatalf("url.ParseQuery(%q): %v", a.String(), err)
			}
			if want := urlValuesOf([]pair{p}); !reflect.DeepEqual(got, want) {
				t.Errorf("url.ParseQuery(%q) = %q, want %q", a.String(), got, want)
			}
		}
		a := argsOf(trickyPairs...)
		got, err := url.ParseQuery(a.String())
		if err != nil {
			t.Fatalf("url.ParseQuery(%q): %v", a.String(), err)
		}
		if want := urlValuesOf(trickyPairs); !reflect.DeepEqual(got, want) {
			t.Errorf("url.ParseQuery = %q, want %q", got, want)
		}
	})
	t.Run("we read url.Values.Encode", func(t *testing.T) {
		vals := urlValuesOf(trickyPairs)
		enc := vals.Encode()
		var a utils.Args
		if err := a.Parse(enc); err != nil {
			t.Fatalf("Parse(%q): %v", enc, err)
		}
		// Encode sorts by key and keeps each key's values in order.
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var want []pair
		for _, k := range keys {
			for _, v := range vals[k] {
				want = append(want, pair{k, v})
			}
		}
		checkPairs(t, &a, want)
	})
	t.Run("escaping is teleport v3.0's byte by byte", func(t *testing.T) {
		// v3.0 keeps ASCII letters, digits and *-._ and writes every other
		// byte as %XX in upper-case hex.
		for c := 0; c < 256; c++ {
			b := byte(c)
			want := fmt.Sprintf("%%%02X", b)
			if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("*-._", b) >= 0 {
				want = string(b)
			}
			if got := string(utils.AppendQueryEscaped(nil, []byte{b})); got != want {
				t.Errorf("escape %#02x = %q, want %q", c, got, want)
			}
		}
	})
	t.Run("unescaping matches url.QueryUnescape", func(t *testing.T) {
		for _, s := range []string{"", "a+b", "%41%62", "%e6%97%a5", "%%", "%", "%4", "%zz", "a%2", "+%2B+", "%00"} {
			got, err := utils.AppendQueryUnescaped([]byte("pre:"), []byte(s))
			want, uerr := url.QueryUnescape(s)
			if (err != nil) != (uerr != nil) {
				t.Errorf("unescape %q: err = %v, url err = %v", s, err, uerr)
				continue
			}
			if err != nil {
				if !errors.Is(err, utils.ErrBadEscape) {
					t.Errorf("unescape %q: err = %v, want ErrBadEscape", s, err)
				}
				continue
			}
			if string(got) != "pre:"+want {
				t.Errorf("unescape %q = %q, want %q", s, got, "pre:"+want)
			}
		}
	})
}

func TestAcquireReleaseArgs(t *testing.T) {
	for i := 0; i < 10; i++ {
		a := utils.AcquireArgs()
		if a.Len() != 0 || a.String() != "" {
			t.Fatalf("round %d: acquired Args not empty: %q", i, a.String())
		}
		a.Add("k", "v")
		a.Add("k2", "v2")
		utils.ReleaseArgs(a)
	}
}

// typicalMeta is metadata as a pull carries it.
const typicalMeta = "X-Reply-Error=%7B%22code%22%3A404%2C%22message%22%3A%22not%20found%22%7D&trace-id=4bf92f3577b34da6&user=alice&lang=en-US&flag"

func TestArgsAllocs(t *testing.T) {
	t.Run("ParseBytes into a reused Args", func(t *testing.T) {
		in := []byte(typicalMeta)
		var a utils.Args
		if err := a.ParseBytes(in); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			if err := a.ParseBytes(in); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("ParseBytes: %v allocs per run, want 0", n)
		}
	})
	t.Run("AppendBytes into a sized buffer", func(t *testing.T) {
		var a utils.Args
		if err := a.Parse(typicalMeta); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 512)
		n := testing.AllocsPerRun(100, func() {
			buf = a.AppendBytes(buf[:0])
		})
		if n != 0 {
			t.Errorf("AppendBytes: %v allocs per run, want 0", n)
		}
		if string(buf) != typicalMeta {
			t.Errorf("AppendBytes = %q, want %q (the bytes parsed)", buf, typicalMeta)
		}
	})
	t.Run("QueryString steady state", func(t *testing.T) {
		var a utils.Args
		if err := a.Parse(typicalMeta); err != nil {
			t.Fatal(err)
		}
		_ = a.QueryString()
		n := testing.AllocsPerRun(100, func() { _ = a.QueryString() })
		if n != 0 {
			t.Errorf("QueryString: %v allocs per run, want 0", n)
		}
	})
	t.Run("Peek and Has", func(t *testing.T) {
		var a utils.Args
		if err := a.Parse(typicalMeta); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			if a.Peek("user") == nil || !a.Has("flag") {
				t.Fatal("lookup failed")
			}
		})
		if n != 0 {
			t.Errorf("Peek/Has: %v allocs per run, want 0", n)
		}
	})
}

func BenchmarkArgsParseBytes(b *testing.B) {
	in := []byte(typicalMeta)
	var a utils.Args
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for i := 0; i < b.N; i++ {
		if err := a.ParseBytes(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkArgsAppendBytes(b *testing.B) {
	var a utils.Args
	if err := a.Parse(typicalMeta); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = a.AppendBytes(buf[:0])
	}
}

// TestArgsParseBoundsPairs: metadata of many tiny pairs is refused past
// MaxArgsPairs, and parsing it up to there costs a bounded amount.
func TestArgsParseBoundsPairs(t *testing.T) {
	tests := []struct {
		name  string
		pairs int
		err   error
	}{
		{"10 000 keys", 10000, nil},
		{"at the bound", utils.MaxArgsPairs, nil},
		{"one over", utils.MaxArgsPairs + 1, utils.ErrTooManyPairs},
		{"4 MiB of a&a&", 2 << 20, utils.ErrTooManyPairs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(strings.Repeat("a&", tt.pairs))
			var a utils.Args
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := a.ParseBytes(in)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && a.Len() != tt.pairs {
				t.Fatalf("%d pairs parsed, want %d", a.Len(), tt.pairs)
			}
			// A pair table of 48 bytes a pair, sized once, and each
			// key's bytes (twice that under the race detector), up
			// to the bound.
			alloc := after.TotalAlloc - before.TotalAlloc
			if bound := uint64(128 * min(tt.pairs, utils.MaxArgsPairs)); alloc > bound {
				t.Fatalf("parsing %d bytes allocated %d, want at most %d", len(in), alloc, bound)
			}
		})
	}
}
