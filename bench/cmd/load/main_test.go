package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/leaktest"

	"github.com/teleport-go/teleport/bench/internal/stats"
	"github.com/teleport-go/teleport/internal/syncbuf"
)

// TestMain lets run re-execute the test binary as its child server, as
// the real command re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		os.Exit(0)
	}
	leaktest.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var log syncbuf.Buffer
	cfg := config{
		exe: os.Args[0], kind: "teleport", sessions: 20, pulls: 5,
		duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, every: 200 * time.Millisecond,
		soak: true, tolerance: 10, log: &log,
	}
	res, err := run(cfg)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if res.calls == 0 || res.errs != 0 || res.bad != 0 || res.stuck != 0 {
		t.Fatalf("calls %d, errors %d (%v), wrong %d, stuck %d", res.calls, res.errs, res.firstErr, res.bad, res.stuck)
	}
	if res.measured == 0 || res.measured > res.calls || res.hist.Count() != res.measured {
		t.Errorf("measured %d of %d calls, histogram holds %d", res.measured, res.calls, res.hist.Count())
	}
	if len(res.samples) < 5 || res.idleRSS == 0 {
		t.Errorf("%d RSS samples, idle RSS %d", len(res.samples), res.idleRSS)
	}
	if res.serverCPU <= 0 {
		t.Error("no server CPU measured")
	}
	var out bytes.Buffer
	if !res.write(&out, cfg) {
		t.Errorf("run did not pass:\n%s", out.String())
	}
	for _, want := range []string{"20 sessions × 5 concurrent pulls (100 in flight)", "0 errors, 0 wrong replies, 0 stuck", "TPS:", "p99", "server RSS:", "soak RSS:", "PASS\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestJudgeSoak(t *testing.T) {
	mb := func(vals ...uint64) []rssSample {
		var s []rssSample
		for i, v := range vals {
			s = append(s, rssSample{at: time.Duration(i) * time.Second, rss: v << 20})
		}
		return s
	}
	tests := []struct {
		name                    string
		samples                 []rssSample
		ok                      bool
		start, plateau, end, nr uint64
	}{
		// Warm-up is 2s: the samples at 0s and 1s are left out.
		{"levels off", mb(10, 50, 80, 95, 100, 100, 99, 100, 100, 98, 100, 100), true, 80, 100, 100, 10},
		{"falls back", mb(10, 50, 80, 120, 90, 90, 90, 90, 90, 90, 90, 90), true, 80, 120, 90, 10},
		{"within tolerance", mb(10, 50, 100, 100, 100, 100, 100, 100, 100, 100, 104, 104), true, 100, 100, 104, 10},
		{"leaks", mb(10, 50, 80, 85, 90, 95, 100, 105, 110, 115, 120, 125), false, 80, 100, 125, 10},
		{"too short", mb(10, 50, 80), false, 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judgeSoak(tt.samples, 2*time.Second, 0.05)
			if v.ok != tt.ok || v.start != tt.start<<20 || v.plateau != tt.plateau<<20 || v.end != tt.end<<20 || v.samples != int(tt.nr) {
				t.Errorf("verdict %+v (MiB: start %d plateau %d end %d), want ok %v, %d/%d/%d over %d",
					v, v.start>>20, v.plateau>>20, v.end>>20, tt.ok, tt.start, tt.plateau, tt.end, tt.nr)
			}
		})
	}
}

func TestWriteFails(t *testing.T) {
	hist := new(stats.Histogram)
	hist.Record(time.Millisecond)
	base := result{inFlight: 10, calls: 100, measured: 1, measTime: time.Second, hist: hist,
		samples: []rssSample{{at: 0, rss: 1 << 20}, {at: time.Second, rss: 1 << 20}, {at: 2 * time.Second, rss: 1 << 20}}}
	tests := []struct {
		name   string
		mutate func(*result)
		soak   bool
		pass   bool
	}{
		{"clean", func(*result) {}, false, true},
		{"an error", func(r *result) { r.errs, r.firstErr = 1, errors.New("boom") }, false, false},
		{"a wrong reply", func(r *result) { r.bad = 1 }, false, false},
		{"a stuck call", func(r *result) { r.stuck = 1 }, false, false},
		{"no calls", func(r *result) { r.calls = 0 }, false, false},
		{"soak grows", func(r *result) { r.samples = append(r.samples, rssSample{at: 3 * time.Second, rss: 2 << 20}) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			r.samples = append([]rssSample(nil), base.samples...)
			tt.mutate(&r)
			var out bytes.Buffer
			cfg := config{kind: "teleport", sessions: 2, pulls: 5, duration: 4 * time.Second, warmup: time.Second, soak: tt.soak, tolerance: 0.05}
			if got := r.write(&out, cfg); got != tt.pass {
				t.Errorf("pass = %v, want %v:\n%s", got, tt.pass, out.String())
			}
			if tt.name == "an error" && !strings.Contains(out.String(), "first error:   boom") {
				t.Errorf("report does not show the first error:\n%s", out.String())
			}
		})
	}
}
