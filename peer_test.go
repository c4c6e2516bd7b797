package tp

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Close lets the handlers in flight finish and write their replies before
// it closes the sessions.
func TestPeerCloseFinishesInFlightHandlers(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	const inFlight = 20
	done := make(chan *PullCmd, inFlight)
	replies := make([]int, inFlight)
	for i := range inFlight {
		p.cliSess.AsyncPull("/home/sleep", 50+i, &replies[i], done)
	}
	waitFor(t, "every pull to be in a handler", func() bool { return p.srv.handling.Load() == inFlight })
	closed := make(chan error, 1)
	go func() { closed <- p.srv.Close() }()
	for range inFlight {
		if cmd := <-done; cmd.Rerror() != nil {
			t.Fatalf("a pull in flight at Close failed: %v", cmd.Rerror())
		}
	}
	for i, r := range replies {
		if r != 50+i {
			t.Fatalf("reply %d = %d", i, r)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client to see the session close", func() bool { return !p.cliSess.IsOk() })
	if p.srv.CountSession() != 0 {
		t.Fatalf("%d sessions left after Close", p.srv.CountSession())
	}
	if _, rerr := p.cli.Dial(p.addr); rerr == nil || rerr.Code != CodeDialFailed {
		t.Fatalf("dial to a closed peer: %v", rerr)
	}
	if err := p.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewPeerRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg  PeerConfig
		want string
	}{
		{PeerConfig{Network: "udp"}, "PeerConfig.Network"},
		{PeerConfig{DefaultBodyCodec: "yaml"}, "PeerConfig.DefaultBodyCodec"},
		{PeerConfig{DefaultReadTimeout: -1}, "PeerConfig.DefaultReadTimeout"},
		{PeerConfig{DefaultWriteTimeout: -1}, "PeerConfig.DefaultWriteTimeout"},
		{PeerConfig{DefaultDialTimeout: -time.Second}, "PeerConfig.DefaultDialTimeout"},
		{PeerConfig{SlowCometDuration: -1}, "PeerConfig.SlowCometDuration"},
		{PeerConfig{RedialTimes: -1}, "PeerConfig.RedialTimes"},
		{PeerConfig{TlsCertFile: "cert.pem"}, "TlsKeyFile"},
		{PeerConfig{TlsCertFile: "/nonexistent/cert.pem", TlsKeyFile: "/nonexistent/key.pem"}, "TlsCertFile"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tt.want) {
					t.Fatalf("NewPeer panic = %v, want one naming %s", r, tt.want)
				}
			}()
			NewPeer(&tt.cfg)
		})
	}
	if p := NewPeer(nil); p.cfg.Network != "tcp" || p.defaultBodyCodec != 'j' {
		t.Fatalf("defaults: network %q, codec %q", p.cfg.Network, p.defaultBodyCodec)
	}
}

// Listen serves every address at once, and Addrs reports them resolved.
func TestListenServesEveryAddress(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "tp.sock")
	tests := []struct {
		name    string
		network string
		addrs   []string
	}{
		{"two tcp ports", "tcp", []string{"127.0.0.1:0", "127.0.0.1:0"}},
		{"unix socket", "unix", []string{sock}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewPeer(&PeerConfig{Network: tt.network, ListenAddrs: tt.addrs})
			srv.PullRouter.Reg(new(Home))
			listened := make(chan error, 1)
			go func() { listened <- srv.Listen() }()
			waitFor(t, "the listeners", func() bool { return len(srv.Addrs()) == len(tt.addrs) })
			cli := NewPeer(&PeerConfig{Network: tt.network})
			for _, a := range srv.Addrs() {
				if strings.HasSuffix(a.String(), ":0") {
					t.Fatalf("Addrs reports an unresolved port: %s", a)
				}
				sess, rerr := cli.Dial(a.String())
				if rerr != nil {
					t.Fatal(rerr)
				}
				var sum int
				if rerr := sess.Pull("/home/test_add", [2]int{2, 3}, &sum).Rerror(); rerr != nil || sum != 5 {
					t.Fatalf("pull via %s: %v %d", a, rerr, sum)
				}
			}
			cli.Close()
			srv.Close()
			if err := <-listened; err != nil {
				t.Fatalf("Listen returned %v after Close", err)
			}
		})
	}
}

// An address that cannot be bound makes Listen fail and close the others.
func TestListenFailsOnBusyAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{freeAddr, busy.Addr().String()}})
	defer srv.Close()
	err = srv.Listen()
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Listen = %v, want an error naming %s", err, busy.Addr())
	}
	// The first address was released again.
	again, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the first listener was left open: %v", err)
	}
	again.Close()
	if err := NewPeer(nil).Listen(); err == nil {
		t.Fatal("Listen without ListenAddrs succeeded")
	}
}

// Many sessions at once: one bad session (garbage bytes) is closed, the
// others keep working.
func TestBadSessionDoesNotHarmOthers(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	bad, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The server closes the bad connection: the read ends.
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server answered garbage instead of closing")
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sum int
			if rerr := p.cliSess.Pull("/home/test_add", [2]int{i, 1}, &sum).Rerror(); rerr != nil || sum != i+1 {
				t.Errorf("pull after a bad session: %v %d", rerr, sum)
			}
		}()
	}
	wg.Wait()
}

// A peer flooding pushes whose handlers block cannot start more than
// PeerConfig.MaxSessionHandlers of them: as many again wait in the queue,
// then the reader stops reading.
func TestSessionHandlersAreBounded(t *testing.T) {
	blockGate = make(chan struct{})
	p := newPair(t, nil, nil, func(srv, cli *Peer) { srv.PushRouter.Reg(new(Blocker)) })
	const flood = DefaultMaxSessionHandlers + 200
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		for i := range flood {
			if rerr := p.cliSess.Push("/blocker/wait", i); rerr != nil {
				return
			}
		}
	}()
	waitFor(t, "the handlers to fill up", func() bool { return p.srv.handling.Load() >= DefaultMaxSessionHandlers })
	time.Sleep(50 * time.Millisecond) // give a runaway read loop the chance to go on
	if n := p.srv.handling.Load(); n > DefaultMaxSessionHandlers {
		t.Fatalf("%d handlers running for one session, want at most %d", n, DefaultMaxSessionHandlers)
	}
	close(blockGate)
	<-pushed
	waitFor(t, "the flood to be handled", func() bool { return p.srv.handling.Load() == 0 })
}
