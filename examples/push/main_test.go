package main

import (
	"bytes"
	"fmt"
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
	want := []string{
		"server has 5 sessions, 4 of them members",
		`server pushed "welcome to the chat" to 4 sessions`,
		"server pushed a private message to each of 4 sessions",
		"the session that did not join got 0 messages",
		"all 4 clients received all 4 messages",
	}
	for _, name := range names {
		want = append(want,
			fmt.Sprintf("%s joined as session %q", name, name),
			fmt.Sprintf("%s got 4 of 4 messages: ", name),
			"server: just for "+name,
		)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q; got:\n%s", w, out)
		}
	}
}
