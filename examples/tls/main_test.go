package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/leaktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.Options()...) }

func TestRunTLS(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, buf.String())
	}
	out := buf.String()
	for _, want := range []string{
		"server listening with TLS on 127.0.0.1:",
		`client verified "teleport example" over TLS 1.3`,
		"client pulled /math/add [1 2 3] -> 6",
		`server got push /chat/say: "hello over TLS"`,
		"plain-text client refused: pull -> 10", // 102 Connection Closed or 104 Write Failed
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}
