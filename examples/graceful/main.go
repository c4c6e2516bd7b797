//go:build !windows

// Command graceful reboots a server under load without a failed pull.
//
// It starts a server in a child process, pulls from it continuously on
// several goroutines, and sends the child SIGUSR2: the child starts a new
// process that inherits its listening socket, then shuts itself down
// gracefully. The client, whose sessions can redial, moves to the new
// process when the old one says goodbye. The program reports how many pulls
// each process served and how many failed (zero), stops the new server with
// SIGTERM, and exits. Linux and other Unix systems only.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
)

// serverAddrEnv, when set, makes this program the server listening there.
const serverAddrEnv = "TP_GRACEFUL_EXAMPLE_ADDR"

func main() {
	if addr := os.Getenv(serverAddrEnv); addr != "" {
		serve(addr)
		return
	}
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "graceful:", err)
		os.Exit(1)
	}
}

// Info is the server's controller.
type Info struct {
	tp.PullCtx
}

// Pid answers with the process id of the server that handled the pull.
func (i *Info) Pid(*struct{}) (int, *tp.Rerror) {
	time.Sleep(time.Millisecond) // some work, so pulls are in flight at the reboot
	return os.Getpid(), nil
}

// serve is the server process: it listens until a signal shuts it down
// (SIGTERM) or reboots it (SIGUSR2).
func serve(addr string) {
	tp.SetLoggerLevel("WARNING")
	srv := tp.NewPeer(&tp.PeerConfig{ListenAddrs: []string{addr}})
	srv.PullRouter.Reg(new(Info))
	tp.SetShutdown(5*time.Second, nil, nil)
	go tp.GraceSignal()
	if err := srv.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "graceful server:", err)
		os.Exit(1)
	}
	select {} // GraceSignal exits the process
}

func run(out io.Writer) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	child := exec.Command(os.Args[0], os.Args[1:]...)
	child.Env = append(os.Environ(), serverAddrEnv+"="+addr)
	// The server's output goes to files, not pipes: the process it
	// reboots into inherits them, and a pipe would keep Wait waiting.
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	childDone := make(chan error, 1)
	go func() { childDone <- child.Wait() }()

	cli := tp.NewPeer(&tp.PeerConfig{RedialTimes: 10, DefaultDialTimeout: time.Second})
	defer cli.Close()
	sess, err := dialWhenUp(cli, addr)
	if err != nil {
		child.Process.Kill()
		return err
	}

	var (
		served  sync.Map // pid -> *atomic.Int64
		failed  atomic.Int64
		lastErr atomic.Value
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	newPid := make(chan int, 1)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var pid int
				if rerr := sess.Pull("/info/pid", struct{}{}, &pid).Rerror(); rerr != nil {
					failed.Add(1)
					lastErr.Store(rerr.Error())
					continue
				}
				n, _ := served.LoadOrStore(pid, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
				if pid != child.Process.Pid {
					select {
					case newPid <- pid:
					default:
					}
				}
			}
		}()
	}

	time.Sleep(200 * time.Millisecond)
	fmt.Fprintf(out, "rebooting the server (pid %d) under load\n", child.Process.Pid)
	if err := child.Process.Signal(syscall.SIGUSR2); err != nil {
		return err
	}
	var successor int
	select {
	case successor = <-newPid:
	case <-time.After(10 * time.Second):
		close(stop)
		wg.Wait()
		return errors.New("no pull reached a new server process")
	}
	select {
	case <-childDone: // the old process has shut down
	case <-time.After(10 * time.Second):
		return errors.New("the old server process did not exit")
	}
	time.Sleep(200 * time.Millisecond) // keep pulling from the new process
	close(stop)
	wg.Wait()

	served.Range(func(pid, n any) bool {
		who := "new"
		if pid.(int) == child.Process.Pid {
			who = "old"
		}
		fmt.Fprintf(out, "%s server process served %d pulls\n", who, n.(*atomic.Int64).Load())
		return true
	})
	fmt.Fprintf(out, "failed pulls: %d\n", failed.Load())

	cli.Close()
	if err := stopProcess(successor); err != nil {
		return err
	}
	if n := failed.Load(); n != 0 {
		return fmt.Errorf("%d pulls failed across the reboot; last: %v", n, lastErr.Load())
	}
	return nil
}

// freeAddr returns a loopback address with a port free now: the server
// needs a fixed address for its successor to find the inherited socket.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// dialWhenUp dials addr until the server is listening.
func dialWhenUp(cli *tp.Peer, addr string) (tp.Session, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		sess, rerr := cli.Dial(addr)
		if rerr == nil {
			return sess, nil
		}
		if time.Now().After(deadline) {
			return nil, rerr
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopProcess shuts the server process pid down with SIGTERM and waits for
// it to exit (it is not our child: poll it).
func stopProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("server process %d did not exit", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
