package tp

import (
	"encoding/json"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/teleport-go/teleport/utils"
)

// TestRerrorFromV3Meta reads X-Reply-Error values as teleport v3.0 writes
// them, valid JSON or not.
func TestRerrorFromV3Meta(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Rerror
	}{
		{"plain", `{"code":404,"message":"Not Found"}`, *NewRerror(404, "Not Found", "")},
		{"escaped quotes and html", `{"code":500,"message":"boom \"x\"","detail":"a&b=c d/é"}`, *NewRerror(500, `boom "x"`, "a&b=c d/é")},
		{"backslashes and control bytes", "{\"code\":500,\"message\":\"say \\\"hi\\\" <b>&\",\"detail\":\"C:\\dir\\file\nline2\ttab é\"}",
			*NewRerror(500, `say "hi" <b>&`, "C:\\dir\\file\nline2\ttab é")},
		{"detail only", "{\"code\":7,\"detail\":\"tab\there\"}", *NewRerror(7, "", "tab\there")},
		{"code only", `{"code":-1}`, *NewRerror(-1, "", "")},
		{"lone quote kept", "{\"code\":1,\"message\":\"a\"b\\z\"}", *NewRerror(1, `a"b\z`, "")},
		{"message cut off", "{\"code\":500,\"message\":\"half a mess\\age", *NewRerror(500, "half a mess\\age", "")},
		{"detail cut off", "{\"code\":500,\"message\":\"m\",\"detail\":\"line\nrest\"", *NewRerror(500, "m", "line\nrest")},
		{"no code", `{"message":"x\q"}`, *NewRerror(CodeBadPacket, "Bad Packet", "")},
		{"message ending in a backslash", "{\"code\":500,\"message\":\"C:\\\",\"detail\":\"x\\q\"}", *NewRerror(500, `C:\`, `x\q`)},
		{"detail ending in a backslash", "{\"code\":500,\"message\":\"m\\q\",\"detail\":\"C:\\\"}", *NewRerror(500, `m\q`, `C:\`)},
		{"code with an exponent", `{"code":1e2,"message":"m\q"}`, *NewRerror(CodeBadPacket, "Bad Packet", "")},
		{"code with a fraction", `{"code":1.5,"message":"m\q"}`, *NewRerror(CodeBadPacket, "Bad Packet", "")},
		{"code not a number", `{"code":x,"message":"y\q"}`, *NewRerror(CodeBadPacket, "Bad Packet", "")},
		{"not JSON", "garbage", *NewRerror(CodeBadPacket, "Bad Packet", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var meta utils.Args
			meta.Set(MetaRerrorKey, tt.raw)
			got := NewRerrorFromMeta(&meta)
			if got == nil {
				t.Fatal("no Rerror")
			}
			if tt.want.Code == CodeBadPacket {
				if got.Code != CodeBadPacket || got.Detail == "" {
					t.Fatalf("got %+v, want a CodeBadPacket naming the value", got)
				}
				return
			}
			if got.Code != tt.want.Code || got.Message != tt.want.Message || got.Detail != tt.want.Detail {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// TestRerrorToMetaIsValidJSONCloseToV3 checks what SetToMeta writes: valid
// JSON, read back exactly, and byte for byte v3.0's form when the strings
// hold no backslash or control byte.
func TestRerrorToMetaIsValidJSONCloseToV3(t *testing.T) {
	tests := []struct {
		r    *Rerror
		want string
	}{
		{NewRerror(404, "Not Found", ""), `{"code":404,"message":"Not Found"}`},
		{NewRerror(500, `boom "x"`, "a&b=c d/é <b>"), `{"code":500,"message":"boom \"x\"","detail":"a&b=c d/é <b>"}`},
		{NewRerror(500, `say "hi"`, "C:\\dir\nline"), `{"code":500,"message":"say \"hi\"","detail":"C:\\dir\nline"}`},
		{NewRerror(-1, "", ""), `{"code":-1}`},
	}
	for _, tt := range tests {
		var meta utils.Args
		tt.r.SetToMeta(&meta)
		if got := string(meta.Peek(MetaRerrorKey)); got != tt.want {
			t.Errorf("SetToMeta(%+v) wrote %s, want %s", *tt.r, got, tt.want)
		}
		back := NewRerrorFromMeta(&meta)
		if back.Code != tt.r.Code || back.Message != tt.r.Message || back.Detail != tt.r.Detail {
			t.Errorf("round trip of %+v gave %+v", *tt.r, *back)
		}
	}
}

// TestRerrorFromV3Frames reads the X-Reply-Error of the reply frames
// teleport v3.0 wrote (testdata/conformance), one of them not valid JSON.
func TestRerrorFromV3Frames(t *testing.T) {
	want := map[string]*Rerror{
		"reply_error_api_plain":     NewRerror(404, "Not Found", ""),
		"reply_error_api_tricky":    NewRerror(500, `say "hi" <b>&`, "C:\\dir\\file\nline2\ttab é"),
		"reply_error_fixed":         NewRerror(404, "Not Found", ""),
		"reply_error_fixed_codec_j": NewRerror(500, `boom "x"`, "a&b=c d/é"),
		"reply_with_body_and_error": NewRerror(400, "Bad Packet", ""),
	}
	f, err := os.Open("testdata/conformance/teleport-v3.0/manifest.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := 0
	for dec := json.NewDecoder(f); dec.More(); {
		var fr struct {
			Name    string `json:"name"`
			MetaRaw string `json:"meta_raw"`
		}
		if err := dec.Decode(&fr); err != nil {
			t.Fatal(err)
		}
		w, ok := want[fr.Name]
		if !ok {
			continue
		}
		seen++
		var meta utils.Args
		if err := meta.Parse(fr.MetaRaw); err != nil {
			t.Fatalf("%s: %v", fr.Name, err)
		}
		got := NewRerrorFromMeta(&meta)
		if got == nil || got.Code != w.Code || got.Message != w.Message || got.Detail != w.Detail {
			t.Errorf("%s: got %+v, want %+v", fr.Name, got, w)
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d reply frames", seen, len(want))
	}
}

// FuzzRerrorFromMeta feeds arbitrary X-Reply-Error values, as a peer may
// send them: never a panic, always a Rerror, and what SetToMeta writes reads
// back unchanged (for valid UTF-8, all JSON can carry).
func FuzzRerrorFromMeta(f *testing.F) {
	f.Add([]byte(`{"code":404,"message":"Not Found"}`))
	f.Add([]byte("{\"code\":500,\"message\":\"say \\\"hi\\\"\",\"detail\":\"C:\\dir\nx\"}"))
	f.Add([]byte(`{"code":-1`))
	f.Add([]byte(`{"code":1,"message":"a","detail":"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var meta utils.Args
		meta.SetBytes([]byte(MetaRerrorKey), raw)
		r := NewRerrorFromMeta(&meta)
		if len(raw) == 0 {
			if r != nil {
				t.Fatalf("an empty value gave %+v", r)
			}
			return
		}
		if r == nil {
			t.Fatal("no Rerror for a non-empty value")
		}
		if !utf8.ValidString(r.Message) || !utf8.ValidString(r.Detail) {
			return // JSON carries only valid UTF-8: SetToMeta writes U+FFFD
		}
		var again utils.Args
		r.SetToMeta(&again)
		back := NewRerrorFromMeta(&again)
		if back.Code != r.Code || back.Message != r.Message || back.Detail != r.Detail {
			t.Fatalf("SetToMeta round trip: %+v became %+v", *r, *back)
		}
	})
}
