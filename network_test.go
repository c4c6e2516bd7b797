package tp

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each network a peer supports: Listen serves every address, Addrs reports
// them resolved, and a client of the same network pushes and pulls (small
// and 64 KiB bodies, one at a time and in a burst), and the server pulls
// back. Every check dials a fresh session, so one that breaks a connection
// does not hide the others.
func TestNetworks(t *testing.T) {
	tests := []struct {
		network string
		addrs   func(t *testing.T) []string
	}{
		{"tcp4", func(*testing.T) []string { return []string{"127.0.0.1:0", "127.0.0.1:0"} }},
		{"tcp6", func(t *testing.T) []string {
			skipWithoutIPv6(t)
			return []string{"[::1]:0"}
		}},
		{"tcp", func(t *testing.T) []string {
			skipWithoutIPv6(t)
			return []string{"127.0.0.1:0", "[::1]:0"}
		}},
		{"unix", func(t *testing.T) []string {
			dir := t.TempDir()
			return []string{filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")}
		}},
		{"unixpacket", func(t *testing.T) []string { return []string{filepath.Join(t.TempDir(), "p.sock")} }},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			addrs := tt.addrs(t)
			watch := &acceptWatch{ch: make(chan PreSession, 16)}
			srv := NewPeer(&PeerConfig{Network: tt.network, ListenAddrs: addrs}, watch)
			cli := NewPeer(&PeerConfig{Network: tt.network, DefaultDialTimeout: 2 * time.Second})
			regHome(srv, cli)
			listened := make(chan error, 1)
			go func() { listened <- srv.Listen() }()
			defer func() {
				cli.Close()
				srv.Close()
				if err := <-listened; err != nil {
					t.Errorf("Listen returned %v after Close", err)
				}
			}()
			waitFor(t, "the listeners", func() bool { return len(srv.Addrs()) == len(addrs) })

			// net.TCPAddr reports "tcp" whatever the listener's network.
			wantNet := tt.network
			if strings.HasPrefix(wantNet, "tcp") {
				wantNet = "tcp"
			}
			served := srv.Addrs()
			for _, a := range served {
				if a.Network() != wantNet || strings.HasSuffix(a.String(), ":0") {
					t.Fatalf("Addrs reports %s %s, want a resolved %s address", a.Network(), a, wantNet)
				}
			}
			if tt.network == "tcp" && served[0].String() == served[1].String() {
				t.Fatalf("Addrs reports one address twice: %v", served)
			}
			for i, a := range served {
				dial := func(t *testing.T) (cliSess, srvSess Session) {
					t.Helper()
					sess, rerr := cli.Dial(a.String())
					if rerr != nil {
						t.Fatalf("Dial %s: %v", a, rerr)
					}
					select {
					case s := <-watch.ch:
						return sess, s.(Session)
					case <-time.After(2 * time.Second):
						t.Fatal("the server did not accept")
						return nil, nil
					}
				}
				t.Run(fmt.Sprintf("addr %d", i), func(t *testing.T) {
					t.Run("push", func(t *testing.T) {
						sess, _ := dial(t)
						if rerr := sess.Push("/note/say", a.String()); rerr != nil {
							t.Fatal(rerr)
						}
						select {
						case got := <-notes:
							if got != "/note/say "+a.String() {
								t.Fatalf("push delivered %q", got)
							}
						case <-time.After(2 * time.Second):
							t.Fatal("push not delivered")
						}
					})
					for _, n := range []int{5, 64 << 10} {
						t.Run(fmt.Sprintf("pull %d bytes", n), func(t *testing.T) {
							sess, _ := dial(t)
							pullBytes(t, sess, 1, n)
						})
					}
					t.Run("burst of 64 pulls of 1000 bytes", func(t *testing.T) {
						sess, _ := dial(t)
						pullBytes(t, sess, 64, 1000)
					})
					t.Run("server pulls back", func(t *testing.T) {
						_, back := dial(t)
						var sum int
						if rerr := back.Pull("/home/test_add", [2]int{4, 5}, &sum).Rerror(); rerr != nil || sum != 9 {
							t.Fatalf("pull = %d, %v; want 9", sum, rerr)
						}
					})
				})
			}
		})
	}
}

// pullBytes makes count concurrent pulls of /home/bytes with n-byte bodies
// on sess and checks each echo, failing if any takes 2 seconds.
func pullBytes(t *testing.T, sess Session, count, n int) {
	t.Helper()
	type call struct {
		body, got []byte
	}
	calls := make([]call, count)
	done := make(chan *PullCmd, count)
	for i := range calls {
		calls[i].body = bytes.Repeat([]byte{byte('a' + i%26)}, n)
		sess.AsyncPull("/home/bytes", calls[i].body, &calls[i].got, done)
	}
	timeout := time.After(2 * time.Second)
	var failed []string
	for i := 0; i < count; i++ {
		select {
		case cmd := <-done:
			if rerr := cmd.Rerror(); rerr != nil {
				failed = append(failed, rerr.String())
			}
		case <-timeout:
			t.Fatalf("%d of %d pulls of %d bytes still waiting after 2s; %d failed: %v", count-i, count, n, len(failed), firstOf(failed))
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d pulls of %d bytes failed: %v", len(failed), count, n, firstOf(failed))
	}
	for i, c := range calls {
		if !bytes.Equal(c.got, c.body) {
			t.Fatalf("pull %d: got %d bytes back, want the %d sent", i, len(c.got), n)
		}
	}
}

// firstOf returns the first of ss, or "".
func firstOf(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

// skipWithoutIPv6 skips a test on a machine without an IPv6 loopback.
func skipWithoutIPv6(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
}

// An address that cannot be bound on the peer's network makes Listen fail
// naming it, and closes the listeners it had opened.
func TestListenFailsOnUnusableAddress(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.sock")
	tests := []struct {
		name    string
		network string
		addrs   []string
		bad     string
		// reopen, if set, must be bindable again after Listen failed.
		reopen string
	}{
		{"unix in a missing directory", "unix", []string{good, filepath.Join(dir, "missing", "x.sock")}, filepath.Join(dir, "missing", "x.sock"), good},
		{"unixpacket in a missing directory", "unixpacket", []string{good, filepath.Join(dir, "missing", "y.sock")}, filepath.Join(dir, "missing", "y.sock"), good},
		{"tcp4 given an IPv6 address", "tcp4", []string{"127.0.0.1:0", "[::1]:0"}, "[::1]:0", ""},
		{"tcp6 given an IPv4 address", "tcp6", []string{"127.0.0.1:0"}, "127.0.0.1:0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewPeer(&PeerConfig{Network: tt.network, ListenAddrs: tt.addrs})
			defer srv.Close()
			listened := make(chan error, 1)
			go func() { listened <- srv.Listen() }()
			var err error
			select {
			case err = <-listened:
			case <-time.After(2 * time.Second):
				t.Fatal("Listen on an unusable address did not return")
			}
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Fatalf("Listen = %v, want an error naming %s", err, tt.bad)
			}
			if n := len(srv.Addrs()); n != 0 {
				t.Fatalf("%d addresses still served after Listen failed", n)
			}
			if tt.reopen != "" {
				l, err := net.Listen(tt.network, tt.reopen)
				if err != nil {
					t.Fatalf("%s was left open: %v", tt.reopen, err)
				}
				l.Close()
			}
		})
	}
}
