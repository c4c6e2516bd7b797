package main

import (
	"bytes"
	"os"
	"path/filepath"
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
	for _, name := range []string{"rawtcp-mux", "netrpc"} {
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
	r := row{name: name, serverCPU: 10 * time.Millisecond, serverMal: 5000}
	r.res = load.Result{ClientMallocs: 20000}
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
			rows: []row{fakeRow(ceilingName, 40000), fakeRow(baselineName, 20000), fakeRow("grpc", 10000)},
			want: []string{
				"| rawtcp-mux | 40000 | 2.000 | 1.000 | 5.000 | 9.000 | 10.000 | 10.0 | 0.0 | 5.0 | 20.0 | 1.00 | 2.00 | 1000 / 1000 |",
				"| grpc | 10000 |",
				"| 0.25 | 0.50 |",
			},
		},
		{
			name: "no baselines",
			rows: []row{fakeRow("grpc", 10000)},
			want: []string{"| – | – |"},
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
