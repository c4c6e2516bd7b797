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
		"registered route /math/double 21 -> 42",
		`unknown pull handler answered /user/profile?id=7&fields=name&fields=email: path=/user/profile query=map[fields:[name email] id:[7]] codec=j raw="{\"token\":\"t0k3n\",\"verbose\":true}" bound=map[token:t0k3n verbose:true]`,
		`unknown pull handler answered /notes/add?tag=shopping+list: path=/notes/add query=map[tag:[shopping list]] codec=s raw="remember the milk" bound=remember the milk`,
		`unknown pull handler answered /ping: path=/ping query=map[] codec=none raw="" bound=<nil>`,
		"unknown pull handler refused /forbidden/zone: code 403 Forbidden",
		"unknown push handler got /events/click (query map[x:[10] y:[20]]): map[button:left]",
		"server without unknown handler answered /user/profile: code 404",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}
