package tp

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/henrylee2cn/goutil/graceful"
)

// FirstSweep runs first when the process shuts down or reboots, before any
// peer is closed; BeforeExiting runs last, after every peer has closed.
// Set them directly or with SetShutdown.
var FirstSweep, BeforeExiting func() error

// DefaultShutdownTimeout bounds Shutdown and Reboot when no timeout is set.
const DefaultShutdownTimeout = 15 * time.Second

var (
	// graceMu guards the fields below.
	graceMu         sync.Mutex
	shutdownTimeout = DefaultShutdownTimeout
	livePeers       = map[*Peer]struct{}{}
)

// gracefulLog routes goutil/graceful's own lines through the configured
// logger, at NOTICE and ERROR.
type gracefulLog struct{}

func (gracefulLog) Infof(format string, v ...interface{})  { Noticef("tp: graceful: "+format, v...) }
func (gracefulLog) Errorf(format string, v ...interface{}) { Errorf("tp: graceful: "+format, v...) }

func init() { graceful.SetLog(gracefulLog{}) }

func registerPeer(p *Peer) {
	graceMu.Lock()
	livePeers[p] = struct{}{}
	graceMu.Unlock()
}

func unregisterPeer(p *Peer) {
	graceMu.Lock()
	delete(livePeers, p)
	graceMu.Unlock()
}

// SetShutdown sets the timeout of Shutdown and Reboot (0: the default) and
// the FirstSweep and BeforeExiting functions.
func SetShutdown(timeout time.Duration, firstSweep, beforeExiting func() error) {
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	graceMu.Lock()
	shutdownTimeout = timeout
	graceMu.Unlock()
	FirstSweep, BeforeExiting = firstSweep, beforeExiting
}

func graceTimeout(timeout []time.Duration) time.Duration {
	if len(timeout) > 0 && timeout[0] > 0 {
		return timeout[0]
	}
	graceMu.Lock()
	defer graceMu.Unlock()
	return shutdownTimeout
}

// GraceSignal waits for a signal: SIGINT or SIGTERM shuts the process down
// gracefully, SIGUSR2 reboots it (on systems that have SIGUSR2; Windows
// has not). Run it on its own goroutine, or last in main.
func GraceSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, append([]os.Signal{syscall.SIGINT, syscall.SIGTERM}, rebootSignals...)...)
	sig := <-ch
	signal.Stop(ch)
	for _, r := range rebootSignals {
		if sig == r {
			Reboot()
			return
		}
	}
	Shutdown()
}

// Shutdown closes every peer gracefully (each stops accepting, lets its
// remote peers leave, finishes its handlers and their replies) within the
// timeout, runs FirstSweep before and BeforeExiting after, and exits the
// process.
func Shutdown(timeout ...time.Duration) {
	d := graceTimeout(timeout)
	// goutil/graceful runs the sweep functions under its own deadline
	// and exits; its minimum is 15 s, ours bounds the peers' close.
	graceful.SetShutdown(max(d, graceful.MinShutdownTimeout), FirstSweep, func() error {
		err := closeAllPeers(d)
		if BeforeExiting != nil {
			if e := BeforeExiting(); e != nil && err == nil {
				err = e
			}
		}
		return err
	})
	graceful.Shutdown()
}

// closeAllPeers closes every live peer at once, each bounded by timeout.
func closeAllPeers(timeout time.Duration) error {
	graceMu.Lock()
	peers := make([]*Peer, 0, len(livePeers))
	for p := range livePeers {
		peers = append(peers, p)
	}
	graceMu.Unlock()
	errs := make(chan error, len(peers))
	for _, p := range peers {
		go func() {
			drain := min(timeout/2, DefaultCloseDrain)
			errs <- p.close(drain, timeout-drain)
		}()
	}
	var first error
	for range peers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// listenFdsEnv tells a rebooted process how many listeners it inherits,
// from file descriptor 3 on: the convention of goutil/graceful/inherit_net
// (and systemd), which Listen follows.
const listenFdsEnv = "LISTEN_FDS"

// Reboot starts a new process of the same program with the same arguments
// and environment, which inherits every listener of every peer (Listen
// finds them by address), then shuts this process down gracefully. Clients
// see no refused connection: the listening sockets never close. Linux and
// other Unix systems only.
func Reboot(timeout ...time.Duration) {
	if err := startInheritor(); err != nil {
		Errorf("tp: reboot: %v; shutting down without a successor", err)
	} else {
		Printf("tp: reboot: a new process has the listeners; shutting down")
	}
	Shutdown(timeout...)
}

// startInheritor starts the new process of a reboot.
func startInheritor() error {
	files, err := inheritableFiles()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	cmd.Env = append(withoutEnv(os.Environ(), listenFdsEnv), listenFdsEnv+"="+strconv.Itoa(len(files)))
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it should it end before this process does
	return nil
}

// inheritableFiles duplicates the listening sockets of every live peer.
func inheritableFiles() ([]*os.File, error) {
	graceMu.Lock()
	peers := make([]*Peer, 0, len(livePeers))
	for p := range livePeers {
		peers = append(peers, p)
	}
	graceMu.Unlock()
	var files []*os.File
	for _, p := range peers {
		p.mu.Lock()
		lis := make([]net.Listener, 0, len(p.rawListeners))
		for l := range p.rawListeners {
			lis = append(lis, l)
		}
		p.mu.Unlock()
		for _, l := range lis {
			fl, ok := l.(interface{ File() (*os.File, error) })
			if !ok {
				return nil, fmt.Errorf("listener %s (%T) cannot be inherited", l.Addr(), l)
			}
			f, err := fl.File()
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Addr(), err)
			}
			files = append(files, f)
		}
	}
	return files, nil
}

func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if len(kv) <= len(key) || kv[:len(key)+1] != key+"=" {
			out = append(out, kv)
		}
	}
	return out
}
