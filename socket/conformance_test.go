package socket

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/utils"
	"github.com/teleport-go/teleport/xfer"
)

// conformanceDir holds frames written by teleport v3.0 itself and the
// manifest of what each contains (see its README.md).
const conformanceDir = "../testdata/conformance/teleport-v3.0"

// v3Frame is one line of manifest.jsonl.
type v3Frame struct {
	Name        string   `json:"name"`
	File        string   `json:"file"`
	Size        int      `json:"size"`
	ProtoId     string   `json:"proto_id"`
	XferIds     string   `json:"xfer_ids"`
	XferStreams []string `json:"xfer_streams"`
	Seq         uint64   `json:"seq"`
	Ptype       int      `json:"ptype"`
	UriB64      string   `json:"uri_b64"`
	MetaRaw     string   `json:"meta_raw"`
	BodyCodec   string   `json:"body_codec"`
	BodyB64     string   `json:"body_b64"`
	BodyLen     int      `json:"body_len"`
}

// xorFilter is the custom filter 'x' of the v3.0 frames: every byte XOR 0x5A.
type xorFilter struct{}

func (xorFilter) Id() byte     { return 'x' }
func (xorFilter) Name() string { return "conformance-xor" }
func (xorFilter) OnPack(b []byte) ([]byte, error) {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5A
	}
	return out, nil
}
func (f xorFilter) OnUnpack(b []byte) ([]byte, error) { return f.OnPack(b) }

func init() { xfer.Reg(xorFilter{}) }

func readManifest(t *testing.T) []v3Frame {
	t.Helper()
	f, err := os.Open(filepath.Join(conformanceDir, "manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var frames []v3Frame
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var fr v3Frame
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
			t.Fatalf("manifest line %d: %v", len(frames)+1, err)
		}
		frames = append(frames, fr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return frames
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (fr v3Frame) codecId() byte {
	if fr.BodyCodec == "" {
		return 0
	}
	return fr.BodyCodec[0]
}

func unpackRaw(t *testing.T, frame []byte) *Packet {
	t.Helper()
	p := NewPacket(WithNewBody(func(Header) interface{} { return new(RawBody) }))
	if err := NewFastProtoFunc(bytes.NewBuffer(frame)).Unpack(p); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	return p
}

// TestConformanceV3Frames reads every frame teleport v3.0 wrote and checks
// each field against the manifest; then Pack of the packet read must write
// the same bytes, but for the one difference PROTOCOL.md documents: our gzip
// layers are complete streams, with a final block and trailer.
func TestConformanceV3Frames(t *testing.T) {
	frames := readManifest(t)
	if len(frames) != 37 {
		t.Fatalf("manifest lists %d frames, want the 37 of teleport v3.0", len(frames))
	}
	for _, fr := range frames {
		t.Run(fr.Name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(conformanceDir, fr.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != fr.Size || fr.ProtoId != "f" {
				t.Fatalf("file of %d bytes, proto %q; manifest says %d, %q", len(raw), fr.ProtoId, fr.Size, fr.ProtoId)
			}
			p := unpackRaw(t, raw)
			body := mustB64(t, fr.BodyB64)
			if got := *p.Body().(*RawBody); !bytes.Equal(got, body) || len(got) != fr.BodyLen {
				t.Errorf("body = %q (%d bytes), want %q (%d)", got, len(got), body, fr.BodyLen)
			}
			checks := []struct {
				field     string
				got, want interface{}
			}{
				{"size", p.Size(), uint32(fr.Size)},
				{"seq", p.Seq(), fr.Seq},
				{"ptype", p.Ptype(), byte(fr.Ptype)},
				{"uri", p.Uri(), string(mustB64(t, fr.UriB64))},
				{"meta", p.Meta().String(), fr.MetaRaw},
				{"body codec", p.BodyCodec(), fr.codecId()},
				{"xfer ids", string(p.XferPipe().Ids()), fr.XferIds},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}

			var packed bytes.Buffer
			if err := NewFastProtoFunc(&packed).Pack(p); err != nil {
				t.Fatalf("Pack: %v", err)
			}
			if !strings.Contains(fr.XferIds, "g") {
				if !bytes.Equal(packed.Bytes(), raw) {
					t.Fatalf("Pack wrote\n%q\nv3.0 wrote\n%q", packed.Bytes(), raw)
				}
				return
			}
			checkGzipFrame(t, fr, raw, packed.Bytes())
		})
	}
}

// checkGzipFrame compares a frame we packed with gzip layers to v3.0's:
// the same head, the same payload once every layer is undone, v3.0's gzip
// layers sync-flushed without a trailer as the manifest says, and ours
// complete streams that a standard gzip reader, such as v3.0's, accepts.
func checkGzipFrame(t *testing.T, fr v3Frame, v3, ours []byte) {
	t.Helper()
	n := 6 + len(fr.XferIds)
	if !bytes.Equal(ours[4:n], v3[4:n]) {
		t.Fatalf("head after the size: %q, v3.0 wrote %q", ours[4:n], v3[4:n])
	}
	v3Payload := peelLayers(t, fr.XferIds, v3[n:], false)
	oursPayload := peelLayers(t, fr.XferIds, ours[n:], true)
	if !bytes.Equal(oursPayload, v3Payload) {
		t.Fatalf("payload under the filters:\n%q\nv3.0's:\n%q", oursPayload, v3Payload)
	}
	again := unpackRaw(t, ours)
	if again.Seq() != fr.Seq || again.Uri() != string(mustB64(t, fr.UriB64)) {
		t.Fatalf("our frame reads back as %s", again)
	}
}

// peelLayers undoes the filters ids, outer-most first, with the standard
// library's gzip reader; complete says whether each gzip layer must be a
// complete stream (ours) or one ending in a sync flush (v3.0's).
func peelLayers(t *testing.T, ids string, data []byte, complete bool) []byte {
	t.Helper()
	for _, id := range []byte(ids) {
		switch id {
		case 'g':
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("gzip header: %v", err)
			}
			out, err := io.ReadAll(zr)
			if complete && err != nil {
				t.Fatalf("our gzip layer is not a complete stream: %v", err)
			}
			if !complete {
				if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.HasSuffix(data, []byte{0, 0, 0xff, 0xff}) {
					t.Fatalf("v3.0's gzip layer: err %v, ends % x; want a sync flush with no trailer", err, data[max(0, len(data)-4):])
				}
			}
			data = out
		case 'x':
			data, _ = xorFilter{}.OnUnpack(data)
		default:
			t.Fatalf("filter %q not in the conformance set", id)
		}
	}
	return data
}

// TestConformanceV3Metadata checks the pairs of v3.0's metadata frames one
// by one, beyond their re-encoding.
func TestConformanceV3Metadata(t *testing.T) {
	want := map[string][][2]string{
		"meta_escape": {
			{"k", "v w&x"}, {"a b&c=d", "x+y%z/?#'!()"}, {"tilde~", "~"}, {"star*", "*"},
			{"dup", "1"}, {"dup", "2"}, {"ctl", "\x00\x01\n\t\xff"},
		},
		"meta_empty_value":   {{"e", ""}, {"k", "v"}},
		"meta_empty_key":     {{"", "v"}},
		"meta_utf8":          {{"ключ", "значение ✓"}, {"日本", "語"}, {"emoji", "🚀"}},
		"json_utf8_uri_meta": {{"ключ", "значение ✓"}},
	}
	for _, fr := range readManifest(t) {
		pairs, ok := want[fr.Name]
		if !ok {
			continue
		}
		t.Run(fr.Name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(conformanceDir, fr.File))
			if err != nil {
				t.Fatal(err)
			}
			var got [][2]string
			unpackRaw(t, raw).Meta().VisitAll(func(k, v []byte) {
				got = append(got, [2]string{string(k), string(v)})
			})
			if !slices.Equal(got, pairs) {
				t.Fatalf("pairs = %q\nwant %q", got, pairs)
			}
			// The common forms read the same: '+' for a space, lower-case hex.
			var a utils.Args
			common := commonQueryForm(fr.MetaRaw)
			if err := a.Parse(common); err != nil {
				t.Fatalf("Parse(%q): %v", common, err)
			}
			if a.String() != fr.MetaRaw {
				t.Fatalf("%q read as %q, want %q", common, a.String(), fr.MetaRaw)
			}
		})
	}
}

// commonQueryForm rewrites v3.0's escaping the way other writers of query
// strings escape: a space as '+' and hex digits in lower case.
func commonQueryForm(s string) string {
	b := []byte(strings.ReplaceAll(s, "%20", "+"))
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}
