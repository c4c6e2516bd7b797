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
		"client pulled /math/add?double=1 [1 2 3] -> 12",
		`server got push /chat/say from 127.0.0.1: "hello from the client"`,
		"server pulled /clock/now -> ",
		`client got push /chat/say from 127.0.0.1: "hello from the server"`,
		"pull of an unknown route -> 404",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}
