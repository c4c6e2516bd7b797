package main

import (
	"bytes"
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
	for _, w := range []string{
		"uploaded with 16 progress reports; server says data.bin: 1048576 bytes, sha256 ",
		"the client's slow handler read 200 prices",
	} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("output lacks %q; got:\n%s", w, buf.String())
		}
	}
}
