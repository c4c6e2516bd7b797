//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/bench/internal/netns"
)

// TestMain makes the test binary a scenario's server when started as one.
func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		if err := serve(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestShortForm runs the short form of every scenario, as CI does, and
// fails on any expectation a scenario reports broken: a pull past its
// deadline, a session not back after a heal, an idempotent call lost by
// the balancer, a dead peer not detected within the heartbeat's or the
// keep-alive's budget, callers that hang, a slow link that fails pushes or
// grows the server's memory past its bound, a restart that fails a call.
func TestShortForm(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: about 50 s of real faults")
	}
	if err := netns.Available(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	results, err := runScenarios(timingsFor(true), nil)
	var table strings.Builder
	printTable(&table, results)
	t.Logf("\n%s", table.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		for _, p := range r.problems {
			t.Errorf("%s: %s", r.scenario, p)
		}
	}
}
