// Command server serves the benchmark workload with one registered runner
// (teleport by default) until interrupted.
//
// Usage:
//
//	go run ./cmd/server [-l 127.0.0.1:8972] [-kind teleport] [-cpuprofile cpu.out] [-memprofile mem.out]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/teleport-go/teleport/bench/internal/runner"
)

func main() {
	var (
		listen = flag.String("l", "127.0.0.1:8972", "listen address")
		kind   = flag.String("kind", "teleport", "runner to serve: "+strings.Join(runner.Names(), ", "))
		cpuOut = flag.String("cpuprofile", "", "write a CPU profile of the server to this file (for go tool pprof)")
		memOut = flag.String("memprofile", "", "write an allocation profile of the server to this file when it stops (for go tool pprof -sample_index=alloc_space)")
	)
	flag.Parse()
	if *cpuOut != "" {
		f, err := os.Create(*cpuOut)
		if err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	if *memOut != "" {
		defer writeMemProfile(*memOut)
	}

	r, err := runner.Lookup(*kind)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	addr, stop, err := r.StartServer(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Printf("%s server listening on %s\n", r.Name(), addr)

	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM)
	<-sigCh
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "server: stop:", err)
	}
}

// writeMemProfile writes the allocations sampled since the start to path.
func writeMemProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server: memprofile:", err)
	}
}
