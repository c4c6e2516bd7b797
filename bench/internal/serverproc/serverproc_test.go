package serverproc

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"

	"github.com/teleport-go/teleport/internal/leaktest"

	"github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/internal/runner"
)

// childKindEnv makes the test binary act as the child server.
const childKindEnv = "SERVERPROC_TEST_KIND"

func TestMain(m *testing.M) {
	if kind := os.Getenv(childKindEnv); kind != "" {
		if err := Serve(kind, "127.0.0.1:0", os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

func TestChildServer(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childKindEnv+"=rawtcp-mux")
	cmd.Stderr = os.Stderr
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	before, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.Lookup("rawtcp-mux")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := r.NewClient(runner.ClientConfig{Addr: p.Addr(), Pool: 2, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	res := load.Run(cl, load.Config{Concurrency: 4, Total: 200})
	cl.Close()
	if res.OK != 200 {
		t.Fatalf("OK = %d of 200 (first error: %v)", res.OK, res.Err)
	}
	after, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if after.Mallocs <= before.Mallocs {
		t.Errorf("child mallocs did not grow: %d -> %d", before.Mallocs, after.Mallocs)
	}
	if after.CPU < before.CPU {
		t.Errorf("child CPU went back: %v -> %v", before.CPU, after.CPU)
	}
	if rss, err := RSS(p.Pid()); err != nil || rss < 1<<20 {
		t.Errorf("child RSS = %d, %v; want over 1 MiB", rss, err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("child exit: %v", err)
	}
	if _, err := RSS(p.Pid()); err == nil {
		t.Error("RSS of an exited child: no error")
	}
}

func TestChildUnknownKind(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childKindEnv+"=no-such-runner")
	if _, err := Start(cmd); err == nil {
		t.Fatal("Start succeeded for an unknown runner")
	}
}
