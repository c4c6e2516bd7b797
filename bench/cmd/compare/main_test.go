package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/internal/stats"
)

// TestMain lets measure re-execute the test binary as its child server,
// as the real command re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMeasure(t *testing.T) {
	for _, name := range []string{"rawtcp-mux", "minrpc", "netrpc"} {
		t.Run(name, func(t *testing.T) {
			r, err := runner.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := measure(os.Args[0], r, config{concurrency: 4, total: 300, pool: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got.res.OK != 300 || got.res.Sent != 300 {
				t.Fatalf("OK/sent = %d/%d, want 300/300 (first error %v)", got.res.OK, got.res.Sent, got.res.Err)
			}
			if got.serverMal == 0 {
				t.Error("no server allocations measured")
			}
		})
	}
}

func fakeRow(name string, tps float64) row {
	const calls = 1000
	r := row{name: name, serverCPU: 10 * time.Millisecond, serverMal: 5000, serverGCs: 2}
	r.res = load.Result{ClientMallocs: 20000, ClientGCs: 4}
	r.res.Report = stats.Report{
		Elapsed: time.Duration(float64(calls) / tps * float64(time.Second)),
		Sent:    calls, Received: calls, OK: calls,
		Latency: stats.Summary{Count: calls, Mean: 2 * time.Millisecond, P50: time.Millisecond, P99: 5 * time.Millisecond, P999: 9 * time.Millisecond, Max: 10 * time.Millisecond, Min: 100 * time.Microsecond},
	}
	return r
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name string
		rows []row
		want []string
	}{
		{
			name: "ratios",
			rows: []row{fakeRow(ceilingName, 40000), fakeRow(minRPCName, 32000), fakeRow(subjectName, 30000), fakeRow("netrpc", 20000), fakeRow("grpc", 10000)},
			want: []string{
				"| rawtcp-mux | 40000 | 2.000 | 1.000 | 5.000 | 9.000 | 10.000 | 10.0 | 0.0 | 5.0 | 20.0 | 80.0 / 160.0 | 1.00 | 1.25 | 2.00 | 1000 / 1000 |",
				"| grpc | 10000 |",
				"| 0.25 | 0.31 | 0.50 | 1000 / 1000 |",
				"| teleport | 30000 |",
				"| 0.75 | 0.94 | 1.50 | 1000 / 1000 |",
				"Best other framework: netrpc (20000 TPS).",
				"teleport beyond minrpc: server +0.0 µs/call, client +0.0 µs/call, +0.0 server and +0.0 client allocs/call, TPS × 0.94.",
				"teleport against netrpc: TPS × 1.50, p99 5.000 ms against 5.000 ms.",
			},
		},
		{
			name: "best other is the fastest",
			rows: []row{fakeRow("netrpc", 20000), fakeRow("grpc", 25000)},
			want: []string{"Best other framework: grpc (25000 TPS).", "| 0.80 | 1000 / 1000 |"},
		},
		{
			name: "no baselines",
			rows: []row{fakeRow(subjectName, 10000)},
			want: []string{"| – | – | – |"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeTable(&buf, tt.rows)
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("table lacks %q:\n%s", w, buf.String())
				}
			}
		})
	}
}

func TestRowMerge(t *testing.T) {
	a, b := fakeRow("x", 1000), fakeRow("x", 3000)
	a.res.Latencies = [][]time.Duration{{time.Millisecond, 3 * time.Millisecond}}
	b.res.Latencies = [][]time.Duration{{2 * time.Millisecond}, {4 * time.Millisecond}}
	var m row
	m.merge(a)
	m.merge(b)
	if m.res.Sent != 2000 || m.res.Received != 2000 || m.res.OK != 2000 {
		t.Errorf("counts %d/%d/%d, want 2000 each", m.res.Sent, m.res.Received, m.res.OK)
	}
	if want := a.res.Elapsed + b.res.Elapsed; m.res.Elapsed != want {
		t.Errorf("elapsed %v, want %v", m.res.Elapsed, want)
	}
	if tps := m.res.TPS(); tps < 1499 || tps > 1501 {
		t.Errorf("TPS %.1f, want 1500 (calls over the summed time)", tps)
	}
	if l := m.res.Latency; l.Count != 4 || l.Min != time.Millisecond || l.Max != 4*time.Millisecond {
		t.Errorf("latency summary %+v, want the four merged calls", l)
	}
	if m.serverCPU != 20*time.Millisecond || m.serverMal != 10000 || m.res.ClientMallocs != 40000 || m.serverGCs != 4 || m.res.ClientGCs != 8 {
		t.Errorf("sums: CPU %v, mallocs %d/%d, GCs %d/%d", m.serverCPU, m.serverMal, m.res.ClientMallocs, m.serverGCs, m.res.ClientGCs)
	}
}

func TestConfigRound(t *testing.T) {
	var sum int64
	for k := range 3 {
		c := config{total: 1000, rounds: 3}.round(k)
		if c.rounds != 1 || c.total < 333 || c.total > 334 {
			t.Errorf("round %d of 1000 calls in 3 = %+v", k, c)
		}
		sum += c.total
	}
	if sum != 1000 {
		t.Errorf("rounds add up to %d calls, want 1000", sum)
	}
	if c := (config{duration: 9 * time.Second, rounds: 3}).round(2); c.duration != 3*time.Second {
		t.Errorf("round of 9s in 3 = %v", c.duration)
	}
	if c := (config{total: 2, rounds: 5}).round(4); c.total != 1 {
		t.Errorf("a round makes at least one call, got %d", c.total)
	}
}

// Interleaving runs every runner in every round, rotating the order, and
// merges each runner's rounds.
func TestInterleave(t *testing.T) {
	var rs []runner.Runner
	for _, name := range []string{"rawtcp-mux", "minrpc"} {
		r, err := runner.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	var log bytes.Buffer
	rows, failed := interleave(os.Args[0], rs, config{concurrency: 2, total: 200, pool: 1, rounds: 2}, &log)
	if failed || len(rows) != 2 {
		t.Fatalf("failed %v, %d rows; log:\n%s", failed, len(rows), log.String())
	}
	for _, r := range rows {
		if r.res.OK != 200 || r.res.Latency.Count != 200 {
			t.Errorf("%s: %d OK, %d latencies, want 200 over two rounds", r.name, r.res.OK, r.res.Latency.Count)
		}
	}
	order := regexp.MustCompile(`round (\d)/2 (\S+)`).FindAllStringSubmatch(log.String(), -1)
	var got []string
	for _, m := range order {
		got = append(got, m[1]+m[2])
	}
	if want := []string{"1rawtcp-mux", "1minrpc", "2minrpc", "2rawtcp-mux"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("run order %v, want %v", got, want)
	}
}

func TestWriteSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chart.svg")
	rows := []row{fakeRow(ceilingName, 40000), fakeRow("grpc", 10000)}
	if err := writeSVG(path, rows, config{concurrency: 100, pool: 10}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("grpc")) {
		t.Fatal("output is not an SVG naming the runners")
	}
	if err := writeSVG(path, nil, config{}); err == nil {
		t.Fatal("no error for an empty table")
	}
}

func TestRequestSize(t *testing.T) {
	if n := requestSize(); n != 581 {
		t.Fatalf("request is %d bytes, want 581", n)
	}
}
