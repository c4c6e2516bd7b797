package tp

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// shutdownChildEnv makes the test binary the child of TestShutdownRunsSweeps:
// it runs shutdownChild and exits.
const shutdownChildEnv = "TP_TEST_SHUTDOWN_CHILD"

// shutdownChild serves a peer, then shuts the process down with the sweeps
// recording, in the file named by the environment, what they saw.
func shutdownChild(record string) {
	srv := NewPeer(nil)
	lis, err := listenForChild()
	if err != nil {
		os.Exit(3)
	}
	go srv.Serve(lis)
	SetShutdown(time.Second,
		func() error {
			return os.WriteFile(record, []byte("first-sweep\n"), 0o600)
		},
		func() error {
			f, err := os.OpenFile(record, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			state := "peer-open"
			if len(srv.Addrs()) == 0 && srv.closing.Load() {
				state = "peer-closed"
			}
			_, err = f.WriteString("before-exiting " + state + "\n")
			return err
		})
	Shutdown()
}

// The process-wide Shutdown runs FirstSweep, closes every peer, runs
// BeforeExiting, and exits with status 0.
func TestShutdownRunsSweepsAndExits(t *testing.T) {
	record := t.TempDir() + "/record"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), shutdownChildEnv+"="+record)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if want := "first-sweep\nbefore-exiting peer-closed\n"; string(got) != want {
		t.Fatalf("sweeps recorded %q, want %q\n%s", got, want, out)
	}
}

// Shutdown with 200 pulls in flight on 20 sessions: every pull gets its
// reply, then the sessions close, and no goroutine is left.
func TestShutdownFinishesPullsInFlight(t *testing.T) {
	srv := NewPeer(nil)
	srv.PullRouter.Reg(new(Home))
	lis := listenLoopback(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := NewPeer(nil)
	defer cli.Close()
	const sessions, perSession = 20, 10
	done := make(chan *PullCmd, sessions*perSession)
	replies := make([]int, sessions*perSession)
	var sess []Session
	for range sessions {
		s, rerr := cli.Dial(lis.Addr().String())
		if rerr != nil {
			t.Fatal(rerr)
		}
		sess = append(sess, s)
	}
	for i := range replies {
		sess[i%sessions].AsyncPull("/home/sleep", 100+i%50, &replies[i], done)
	}
	waitFor(t, "every pull to be in a handler", func() bool { return srv.handling.Load() == int64(len(replies)) })

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := closeAllPeers(5 * time.Second); err != nil {
			t.Errorf("closeAllPeers: %v", err)
		}
	}()
	for range replies {
		if cmd := <-done; cmd.Rerror() != nil {
			t.Fatalf("a pull in flight at shutdown failed: %v", cmd.Rerror())
		}
	}
	wg.Wait()
	for i, r := range replies {
		if r != 100+i%50 {
			t.Fatalf("reply %d = %d", i, r)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if srv.CountSession() != 0 || cli.CountSession() != 0 {
		t.Fatalf("sessions left: server %d, client %d", srv.CountSession(), cli.CountSession())
	}
	for _, s := range sess {
		if s.IsOk() {
			t.Fatal("a client session is still open")
		}
	}
}

func TestSetShutdownTimeout(t *testing.T) {
	defer SetShutdown(0, nil, nil)
	SetShutdown(3*time.Second, nil, nil)
	if d := graceTimeout(nil); d != 3*time.Second {
		t.Fatalf("timeout = %v", d)
	}
	if d := graceTimeout([]time.Duration{time.Second}); d != time.Second {
		t.Fatalf("explicit timeout = %v", d)
	}
	SetShutdown(0, nil, nil)
	if d := graceTimeout(nil); d != DefaultShutdownTimeout {
		t.Fatalf("default timeout = %v", d)
	}
	if got := withoutEnv([]string{"A=1", "LISTEN_FDS=2", "LISTEN_FDSX=3"}, "LISTEN_FDS"); strings.Join(got, ",") != "A=1,LISTEN_FDSX=3" {
		t.Fatalf("withoutEnv = %v", got)
	}
}
