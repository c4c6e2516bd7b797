package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teleport-go/teleport/internal/leaktest"
)

// TestMain lets measure re-execute the test binary as its child server,
// as the real command re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		os.Exit(runChild(os.Stdin, os.Stdout))
	}
	leaktest.VerifyTestMain(m)
}

func TestMeasure(t *testing.T) {
	heap := filepath.Join(t.TempDir(), "heap.pprof")
	var log bytes.Buffer
	cfg := config{exe: os.Args[0], sessions: 200, batch: 50, budgetKiB: 48, heapProfile: heap, log: &log}
	res, err := measure(cfg)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if res.sessions != 200 || res.loaded.sessions != 200 {
		t.Errorf("sessions = %d, child held %d, want 200", res.sessions, res.loaded.sessions)
	}
	if kib := res.perSessionKiB(); kib <= 0 {
		t.Errorf("RSS per session = %.2f KiB, want > 0 (baseline %d, loaded %d bytes)", kib, res.base.rss, res.loaded.rss)
	}
	if res.loaded.goroutines < res.base.goroutines+200 {
		t.Errorf("goroutines %d -> %d, want at least one more per session", res.base.goroutines, res.loaded.goroutines)
	}
	if fi, err := os.Stat(heap); err != nil || fi.Size() == 0 {
		t.Errorf("no heap profile written: %v", err)
	}

	var out bytes.Buffer
	res.write(&out, cfg.budgetKiB)
	for _, want := range []string{"sessions:                200\n", "baseline RSS:", "RSS with sessions:", "RSS per session:", " KiB per idle session, budget 48 KiB\n"} {
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
		{"under budget", base.rss + 100*40<<10, "PASS: 40.00 KiB per idle session, budget 48 KiB\n"},
		{"at budget", base.rss + 100*48<<10, "PASS: 48.00 KiB per idle session, budget 48 KiB\n"},
		{"over budget", base.rss + 100*50<<10, "FAIL: 50.00 KiB per idle session, budget 48 KiB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := result{asked: 100, sessions: 100, base: base, loaded: sample{rss: tt.loaded}}
			var out bytes.Buffer
			r.write(&out, 48)
			if !strings.HasSuffix(out.String(), tt.want) {
				t.Errorf("report ends %q, want %q", out.String(), tt.want)
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
		{"unknown", []uint64{0, 0}, 10000},
		{"enough", []uint64{20000, 20000}, 10000},
		{"child lower", []uint64{20000, 1024}, 1024 - fdReserve},
		{"tiny", []uint64{10}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			got := fitSessions(config{sessions: 10000, log: &log}, tt.limits...)
			if got != tt.want {
				t.Errorf("fitSessions = %d, want %d", got, tt.want)
			}
			if (got != 10000) != strings.Contains(log.String(), "too low") {
				t.Errorf("note %q does not match the cut to %d", log.String(), got)
			}
		})
	}
}
