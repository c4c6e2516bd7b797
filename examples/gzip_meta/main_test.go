package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/leaktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.Options()...) }

func TestRun(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, buf.String())
	}
	out := buf.String()
	for _, want := range []string{
		"pull /api/echo?name=gopher&n=3: 44000-byte body sent in a ",
		"server saw path=/api/echo name=gopher n=3 X-Trace-Id=trace-42 body=44000 bytes frame=",
		"bytes filters=[gzip]",
		"pull /api/repeat?n=2000: 4000-byte reply came in a ",
		"filters=[gzip], meta X-Repeated=2000",
		`pull /api/upper (codec p): "PROTOBUF WELL-KNOWN TYPES", reply codec p`,
		`pull /api/reverse (codec s) string: "cedoc gnirts ,olleh", reply codec s`,
		`pull /api/reverse (codec s) []byte: "setyb war", reply codec s`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
	// gzip must have made the frames smaller than the bodies they carry.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(\d+)-byte body sent in a (\d+)-byte frame`),
		regexp.MustCompile(`(\d+)-byte reply came in a (\d+)-byte frame`),
	} {
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("output lacks %s; got:\n%s", re, out)
			continue
		}
		body, _ := strconv.Atoi(m[1])
		frame, _ := strconv.Atoi(m[2])
		if frame >= body {
			t.Errorf("%q: frame not compressed", m[0])
		}
	}
}
