package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/syncbuf"
)

// TestMain lets measure re-execute the test binary as its children, as
// the real command re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == childFlag {
		os.Exit(runChild(os.Args[2], os.Stdin, os.Stdout))
	}
	leaktest.VerifyTestMain(m)
}

func TestMeasure(t *testing.T) {
	heap := filepath.Join(t.TempDir(), "heap")
	var log syncbuf.Buffer
	cfg := config{exe: os.Args[0], sessions: 200, batch: 50, bigSize: 64 << 10, budgetKiB: 4, heapProfile: heap, log: &log}
	res, err := measure(cfg)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if res.sessions != 200 {
		t.Errorf("sessions = %d, want 200", res.sessions)
	}
	for _, s := range []side{res.server, res.client} {
		for st := stageSmall; st < stages; st++ {
			if got := s.samples[st].sessions; got != 200 {
				t.Errorf("%s at stage %d holds %d sessions, want 200", s.name, st, got)
			}
			if kib := res.perSessionKiB(s, st, rssOf); kib <= 0 {
				t.Errorf("%s at stage %d: %.2f KiB per session, want > 0", s.name, st, kib)
			}
		}
	}
	// Idle sessions hold no goroutine of their own (they wait in the
	// peer's poller), so the count only has to be sampled.
	for _, s := range []side{res.server, res.client} {
		if g := s.samples[stageBase].goroutines; g <= 0 {
			t.Errorf("%s: %d goroutines sampled before any session", s.name, g)
		}
	}
	for _, suffix := range []string{".server", ".client"} {
		if fi, err := os.Stat(heap + suffix); err != nil || fi.Size() == 0 {
			t.Errorf("no heap profile %s: %v", heap+suffix, err)
		}
	}

	var out bytes.Buffer
	res.write(&out, cfg.budgetKiB)
	for _, want := range []string{
		"sessions:   200, dialed", "server process:", "client process:",
		"after a small pull:", "after a 64 KiB pull:", "per session, after a 64 KiB pull:",
		"server after a small pull:", "client after a 64 KiB pull:", " KiB per idle session, budget 4 KiB\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWriteVerdict(t *testing.T) {
	base := sample{rss: 10 << 20}
	tests := []struct {
		name   string
		loaded uint64 // RSS holding 100 sessions
		want   string
	}{
		{"under budget", base.rss + 100*3<<10, "PASS: server after a small pull: 3.00 KiB per idle session, budget 4 KiB\n"},
		{"at budget", base.rss + 100*4<<10, "PASS: server after a small pull: 4.00 KiB per idle session, budget 4 KiB\n"},
		{"over budget", base.rss + 100*5<<10, "FAIL: server after a small pull: 5.00 KiB per idle session, budget 4 KiB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := result{asked: 100, sessions: 100, server: side{name: "server"}, client: side{name: "client"}}
			r.server.samples = [stages]sample{base, {rss: tt.loaded}, {}}
			r.client.samples = [stages]sample{base, base, {}}
			var out bytes.Buffer
			r.write(&out, 4)
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("report lacks %q:\n%s", tt.want, out.String())
			}
			if strings.Contains(out.String(), "KiB pull") {
				t.Errorf("report shows a big pull that was not made:\n%s", out.String())
			}
		})
	}
}

func TestFitSessions(t *testing.T) {
	tests := []struct {
		name   string
		limits []uint64
		want   int
	}{
		{"unknown", []uint64{0, 0}, 19000},
		{"enough", []uint64{20000, 20000}, 19000},
		{"client lower", []uint64{20000, 1024}, 1024 - fdReserve},
		{"tiny", []uint64{10}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			got := fitSessions(config{sessions: 19000, log: &log}, tt.limits...)
			if got != tt.want {
				t.Errorf("fitSessions = %d, want %d", got, tt.want)
			}
			if (got != 19000) != strings.Contains(log.String(), "too low") {
				t.Errorf("note %q does not match the cut to %d", log.String(), got)
			}
		})
	}
}

func TestChildCommands(t *testing.T) {
	var out bytes.Buffer
	in := strings.NewReader("rss\nbogus\ndial 127.0.0.1:1 1 1\npull 1\nheap\n")
	if code := runChild("client", in, &out); code != 0 {
		t.Fatalf("client child exited %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ready ") || !strings.HasPrefix(lines[1], "sample ") {
		t.Fatalf("client child said:\n%s", out.String())
	}
	for i, want := range []string{"unknown command", "dial", "pull wants SIZE BATCH", "heap wants FILE"} {
		if l := lines[2+i]; !strings.HasPrefix(l, "err ") || !strings.Contains(l, want) {
			t.Errorf("reply %q, want an error mentioning %q", l, want)
		}
	}
	if code := runChild("nobody", strings.NewReader(""), &out); code == 0 {
		t.Error("a child of an unknown role exited 0")
	}
}
