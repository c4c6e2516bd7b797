package stats

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	sorted := make([]time.Duration, 1000)
	for i := range sorted {
		sorted[i] = time.Duration(i + 1)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{50, 500},
		{99, 990},
		{99.9, 999},
		{100, 1000},
		{0.01, 1},
	}
	for _, tt := range tests {
		if got := Percentile(sorted, tt.p); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   [][]time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", [][]time.Duration{{5}}, Summary{Count: 1, Mean: 5, P50: 5, P99: 5, P999: 5, Max: 5, Min: 5}},
		{"merged", [][]time.Duration{{4, 1}, nil, {3, 2}}, Summary{Count: 4, Mean: 2, P50: 2, P99: 4, P999: 4, Max: 4, Min: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.in); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSummarizeKeepsInput(t *testing.T) {
	in := [][]time.Duration{{3, 1, 2}}
	Summarize(in)
	if in[0][0] != 3 || in[0][1] != 1 {
		t.Fatal("Summarize sorted its input in place")
	}
}

func TestReportWrite(t *testing.T) {
	r := Report{Elapsed: 2 * time.Second, Sent: 10, Received: 10, OK: 9, Latency: Summary{Count: 10, Mean: time.Millisecond}}
	if got := r.TPS(); got != 5 {
		t.Errorf("TPS = %v, want 5", got)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sent     requests    : 10", "received requests_OK : 9", "throughput  (TPS)    : 5", "mean: 1ms"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestProgressSilentOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := StartProgress(&buf, 10, func() int64 { return 5 })
	p.Stop()
	if buf.Len() != 0 {
		t.Fatalf("progress wrote %q to a non-terminal", buf.String())
	}
}
