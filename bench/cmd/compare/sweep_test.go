package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
)

// A small sweep of two runners writes a row per runner and point, and
// the charts.
func TestRunSweep(t *testing.T) {
	rs, err := runner.Select("minrpc,teleport")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sc := sweepConfig{
		exe: os.Args[0], runners: rs, duration: 100 * time.Millisecond, rounds: 1, pool: 2,
		cs: []int{3}, sizes: []int{20000}, sizeC: 4, conns: []int{5}, out: dir,
	}
	var out, log bytes.Buffer
	if err := runSweep(sc, &out, &log); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	f, err := os.Open(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1+3*2 {
		t.Fatalf("%d CSV records, want a header and 6 rows:\n%v", len(records), records)
	}
	if strings.Join(records[0], ",") != strings.Join(sweepColumns, ",") {
		t.Errorf("header %v", records[0])
	}
	seen := map[string]bool{}
	for _, r := range records[1:] {
		seen[r[0]+"/"+r[1]+"/"+r[2]+"/"+r[4]] = true
		if want := map[bool]string{true: "5", false: "2"}[r[0] == curveConnections]; r[3] != want {
			t.Errorf("row %v: %s connections, want %s", r, r[3], want)
		}
		if r[13] != r[14] || r[13] == "0" {
			t.Errorf("row %v: OK %s of %s sent", r, r[13], r[14])
		}
	}
	for _, k := range []string{"concurrency/teleport/3/581", "concurrency/minrpc/3/581", "size/teleport/4/20000", "size/minrpc/4/20000", "connections/teleport/5/581", "connections/minrpc/5/581"} {
		if !seen[k] {
			t.Errorf("no CSV row %s", k)
		}
	}
	for _, name := range []string{"sweep-concurrency.svg", "sweep-concurrency.png", "sweep-size.svg", "sweep-size.png", "sweep-connections.svg", "sweep-connections.png"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() < 1000 {
			t.Errorf("chart %s: %v", name, err)
		}
	}
	for _, want := range []string{"Concurrency curve:", "Message-size curve:", "Connections curve:", "| teleport | 4 | 2 | 20000 |", "| teleport | 5 | 5 | 581 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
}

func TestReadSweepCSV(t *testing.T) {
	dir := t.TempDir()
	header := strings.Join(sweepColumns, ",")
	good := "size,teleport,100,10,1024,5000,1,2,3,4.5,5.5,8,7,10,10"
	tests := []struct {
		name, content string
		ok            bool
	}{
		{"good", header + "\n" + good + "\n", true},
		{"no header", good + "\n", false},
		{"empty", "", false},
		{"bad number", header + "\n" + strings.Replace(good, "5000", "many", 1) + "\n", false},
		{"bad curve", header + "\n" + strings.Replace(good, "size", "width", 1) + "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".csv")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, err := readSweepCSV(path)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok {
				want := record{curve: curveSize, runner: "teleport", concurrency: 100, pool: 10, size: 1024, tps: 5000, p99ms: 2, cpuUs: 10}
				if len(recs) != 1 || recs[0] != want {
					t.Fatalf("records %+v, want %+v", recs, want)
				}
				if err := writeSweepChart(filepath.Join(dir, "c.svg"), curveConcurrency, recs); err == nil {
					t.Error("no error drawing a curve without points")
				}
				if err := writeSweepChart(filepath.Join(dir, "c.gif"), curveSize, recs); err == nil {
					t.Error("no error for an unknown chart format")
				}
			}
		})
	}
}

func TestParseInts(t *testing.T) {
	if got, err := parseInts(" 1, 10,100 ,"); err != nil || len(got) != 3 || got[2] != 100 {
		t.Errorf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-5"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q): no error", bad)
		}
	}
}

func TestSizeLabel(t *testing.T) {
	for n, want := range map[int]string{64: "64 B", 1024: "1 KiB", 262144: "256 KiB", 1 << 20: "1 MiB", 1500: "1500 B"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}
