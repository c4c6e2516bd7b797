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
	out := buf.String()
	for _, want := range []string{
		"client authenticated as alice\n",
		"client pulled /math/add?double=1 [1 2 3] -> 12\n",
		"client pulled /v1/add?double=1 [1 2 3] -> 12\n",
		"client idle for 400ms (server read timeout 200ms): session open: true, pings received: true\n",
		"dial with a wrong token -> rerror 401: Unauthorized: unknown token\n",
		"summary: server sessions: 1 (alice found by id: true), pulls served through an alias: 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}
