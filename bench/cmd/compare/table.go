package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/teleport-go/teleport/bench/pb"
)

// The runners the ratio columns divide by.
const (
	ceilingName  = "rawtcp-mux"
	baselineName = "netrpc"
)

func requestSize() int {
	return proto.Size(pb.NewRequest())
}

// perCall divides a total over the calls received.
func perCall(total float64, r row) float64 {
	if r.res.Received == 0 {
		return 0
	}
	return total / float64(r.res.Received)
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func millis(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

// ratio formats a's TPS over the TPS of the row called name, or "–" when
// that runner did not run.
func ratio(a row, rows []row, name string) string {
	for _, b := range rows {
		if b.name == name && b.res.TPS() > 0 {
			return fmt.Sprintf("%.2f", a.res.TPS()/b.res.TPS())
		}
	}
	return "–"
}

// writeTable prints rows as a markdown table.
func writeTable(w io.Writer, rows []row) {
	header := []string{
		"runner", "TPS", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
		"server CPU µs/call", "client CPU µs/call", "server allocs/call", "client allocs/call",
		"TPS / " + ceilingName, "TPS / " + baselineName, "OK / sent",
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---:|", len(header)))
	for _, r := range rows {
		l := r.res.Latency
		cells := []string{
			r.name,
			fmt.Sprintf("%.0f", r.res.TPS()),
			millis(l.Mean), millis(l.P50), millis(l.P99), millis(l.P999), millis(l.Max),
			fmt.Sprintf("%.1f", perCall(micros(r.serverCPU), r)),
			fmt.Sprintf("%.1f", perCall(micros(r.clientCPU), r)),
			fmt.Sprintf("%.1f", perCall(float64(r.serverMal), r)),
			fmt.Sprintf("%.1f", perCall(float64(r.res.ClientMallocs), r)),
			ratio(r, rows, ceilingName),
			ratio(r, rows, baselineName),
			fmt.Sprintf("%d / %d", r.res.OK, r.res.Sent),
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}
