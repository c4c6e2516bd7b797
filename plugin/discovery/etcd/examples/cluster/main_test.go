package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/leaktest"
	"go.uber.org/goleak"
)

// TestMain also serves as the server processes: run re-executes the test
// binary with the etcd endpoint in the environment.
func TestMain(m *testing.M) {
	if ep := os.Getenv(etcdEnv); ep != "" {
		serve(ep)
		return
	}
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// Through a crash, a graceful shutdown and a join under load, no call
// fails, and every server served some.
func TestCluster(t *testing.T) {
	var out bytes.Buffer
	err := run(&out, "")
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"killed (SIGKILL)", "shut down (SIGTERM)", "started during the run", "failed calls: 0,"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q", want)
		}
	}
}
