//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
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
	cleanUpOnSignal()
	os.Exit(m.Run())
}

// TestCloseAllRemovesNamespaces: what an interrupted run does (closeAll)
// ends the servers and removes the namespaces of every live world.
func TestCloseAllRemovesNamespaces(t *testing.T) {
	if err := netns.Available(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	w, err := newWorld(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.start(0); err != nil {
		t.Fatal(err)
	}
	names := []string{w.client, w.servers[0].ns}
	closeAll()
	if err := w.servers[0].cmd.Process.Signal(syscall.Signal(0)); err == nil {
		t.Error("the server still runs")
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s is still there", name)
		}
	}
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
