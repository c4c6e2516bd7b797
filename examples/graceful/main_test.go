//go:build !windows

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/leaktest"
	"go.uber.org/goleak"
)

// TestMain also serves as the server process: run re-executes the test
// binary with the server's address in the environment.
func TestMain(m *testing.M) {
	if addr := os.Getenv(serverAddrEnv); addr != "" {
		serve(addr)
		return
	}
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// A client pulling continuously through a reboot sees no failed pull, and
// both server processes served some of the pulls.
func TestRebootUnderLoad(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"old server process served", "new server process served", "failed pulls: 0"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
