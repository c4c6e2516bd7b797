package websocket

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"github.com/teleport-go/teleport/plugin/auth"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	tp "github.com/teleport-go/teleport"
)

// TestNextToUserRoutes checks that the handler shares a mux with the
// user's routes, and what it answers a request that is no upgrade.
func TestNextToUserRoutes(t *testing.T) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	url := serveWS(t, srv)
	base := "http" + strings.TrimPrefix(strings.TrimSuffix(url, "/tp"), "ws")
	cli := tp.NewPeer(nil)
	defer cli.Close()
	sess, rerr := Dial(cli, url)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/hello", http.StatusOK, "hello"},
		{"/tp", http.StatusUpgradeRequired, ""},
		{"/elsewhere", http.StatusNotFound, ""},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || tt.body != "" && string(b) != tt.body {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, b, tt.status, tt.body)
		}
	}
	var sum int
	if rerr := sess.Pull("/math/add", &[2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
		t.Errorf("pull beside the routes: %d, %v", sum, rerr)
	}
}

// TestOrigin checks which browser origins may connect.
func TestOrigin(t *testing.T) {
	for _, tt := range []struct {
		name     string
		patterns []string
		allowed  []string
		origin   string // "self": the server's own
		host     string // the Host header, when set
		ok       bool
	}{
		{"allowed origin", nil, []string{"https://app.example.com"}, "https://app.example.com", "", true},
		{"allowed origin, other case", nil, []string{"https://App.example.com"}, "https://app.EXAMPLE.com", "", true},
		{"allowed origin's host, other scheme", nil, []string{"https://app.example.com"}, "http://app.example.com", "", false},
		{"same origin, not in AllowedOrigins", nil, []string{"https://app.example.com"}, "self", "", false},
		{"DNS rebinding, default rule", nil, nil, "http://rebind.example:8080", "rebind.example:8080", true},
		{"DNS rebinding, AllowedOrigins", nil, []string{"http://127.0.0.1:8080"}, "http://rebind.example:8080", "rebind.example:8080", false},
		{"no origin with AllowedOrigins", nil, []string{"https://app.example.com"}, "", "", true},
		{"no origin (not a browser)", nil, nil, "", "", true},
		{"same origin", nil, nil, "self", "", true},
		{"foreign origin", nil, nil, "http://evil.example", "", false},
		{"allowed by a pattern", []string{"*.example.com"}, nil, "https://app.example.com", "", true},
		{"not matched by the pattern", []string{"*.example.com"}, nil, "http://evil.example", "", false},
		{"pattern with a scheme, other scheme", []string{"https://app.example.com"}, nil, "http://app.example.com", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tp.NewPeer(nil)
			hs := httptest.NewServer(newMux(srv, &Config{OriginPatterns: tt.patterns, AllowedOrigins: tt.allowed}))
			defer hs.Close()
			defer srv.Close()
			h := http.Header{}
			switch tt.origin {
			case "":
			case "self":
				h.Set("Origin", hs.URL)
			default:
				h.Set("Origin", tt.origin)
			}
			if tt.host != "" {
				h.Set("Host", tt.host) // as a browser sends it for a rebound name
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := cws.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/tp", &cws.DialOptions{HTTPHeader: h, Host: tt.host})
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.Close(cws.StatusNormalClosure, "")
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("got %v, want 403", err)
			}
		})
	}
}

// TestWSS dials wss:// with the peer's TLS configuration.
func TestWSS(t *testing.T) {
	srv := tp.NewPeer(nil)
	srv.PullRouter.Reg(new(Math))
	hs := httptest.NewTLSServer(newMux(srv, nil))
	defer hs.Close()
	defer srv.Close()
	wss := "wss" + strings.TrimPrefix(hs.URL, "https") + "/tp"
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())

	for _, tt := range []struct {
		name string
		url  string
		tls  *tls.Config
		ok   bool
	}{
		{"trusted", wss, &tls.Config{RootCAs: pool}, true},
		{"unknown authority", wss, nil, false},
		{"plain ws to a TLS server", "ws" + strings.TrimPrefix(wss, "wss"), &tls.Config{RootCAs: pool}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cli := tp.NewPeer(&tp.PeerConfig{DefaultDialTimeout: 5 * time.Second})
			defer cli.Close()
			cli.SetTLSConfig(tt.tls)
			sess, rerr := Dial(cli, tt.url)
			if !tt.ok {
				if rerr == nil || rerr.Code != tp.CodeDialFailed {
					t.Fatalf("got %v, want CodeDialFailed", rerr)
				}
				return
			}
			if rerr != nil {
				t.Fatal(rerr)
			}
			var sum int
			if rerr := sess.Pull("/math/add", &[2]int{2, 3}, &sum).Rerror(); rerr != nil || sum != 5 {
				t.Fatalf("pull: %d, %v", sum, rerr)
			}
		})
	}
}

// TestClose checks what the other side sees when a session closes, and
// that a side that never answers cannot hold Close up.
func TestClose(t *testing.T) {
	watch := newAcceptWatch()
	srv := tp.NewPeer(nil, watch)
	url := serveWS(t, srv)

	t.Run("the other side gets a normal closure", func(t *testing.T) {
		c := rawDial(t, url, nil)
		sess := watch.next(t)
		status := make(chan cws.StatusCode, 1)
		go func() { status <- readClose(t, c) }() // reading, it answers the close
		sess.Close()
		if got := <-status; got != cws.StatusNormalClosure {
			t.Errorf("close status %v", got)
		}
	})
	t.Run("a side that does not read", func(t *testing.T) {
		rawDial(t, url, nil) // never reads, so never answers the close
		sess := watch.next(t)
		start := time.Now()
		sess.Close()
		if d := time.Since(start); d > CloseHandshakeWait+2*time.Second {
			t.Errorf("Close took %v", d)
		}
	})
}

// TestWriteOneFramePerMessage writes two frames in one Write, as the fast
// protocol does when frames queue up, and reads two messages.
func TestWriteOneFramePerMessage(t *testing.T) {
	conns := make(chan *conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &hijackWatch{ResponseWriter: w}
		ws, err := cws.Accept(hw, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- newConn(ws, hw.raw)
	}))
	defer hs.Close()
	c := rawDial(t, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	sc := <-conns
	defer sc.Close()

	if _, ok := sc.RemoteAddr().(*net.TCPAddr); !ok {
		t.Errorf("RemoteAddr is %T, want the TCP address", sc.RemoteAddr())
	}
	f1 := frame(t, tp.TypePush, 1, "/a", "one")
	f2 := frame(t, tp.TypePush, 2, "/b", "two")
	if n, err := sc.Write(append(append([]byte(nil), f1...), f2...)); err != nil || n != len(f1)+len(f2) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, want := range [][]byte{f1, f2} {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(msg) != string(want) {
			t.Errorf("message %d: % x, want frame %d (size %d)", i, msg, i+1, binary.BigEndian.Uint32(want))
		}
	}
}

// TestRefusedWhenNotAccepting checks that a closed peer, and one with
// MaxSessions sessions, refuse upgrades with 503 rather than accept
// connections they would close at once.
func TestRefusedWhenNotAccepting(t *testing.T) {
	dial503 := func(t *testing.T, url string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := cws.Dial(ctx, url, nil)
		if err == nil {
			c.CloseNow()
			t.Fatal("accepted a WebSocket")
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("got %v, want 503", err)
		}
	}
	t.Run("closed", func(t *testing.T) {
		srv := tp.NewPeer(nil)
		url := serveWS(t, srv)
		srv.Close()
		dial503(t, url)
	})
	t.Run("MaxSessions reached", func(t *testing.T) {
		watch := newAcceptWatch()
		srv := tp.NewPeer(&tp.PeerConfig{MaxSessions: 1}, watch)
		url := serveWS(t, srv)
		cli := tp.NewPeer(nil)
		defer cli.Close()
		first, rerr := Dial(cli, url)
		if rerr != nil {
			t.Fatal(rerr)
		}
		watch.next(t)
		waitFor(t, "the first session to count", func() bool { return srv.CountSession() == 1 })
		dial503(t, url)
		first.Close()
		waitFor(t, "room for another session", func() bool { return srv.Accepting() })
		if _, rerr := Dial(cli, url); rerr != nil {
			t.Errorf("after the first closed: %v", rerr)
		}
	})
}

// A flood of concurrent upgrades, each with a valid token, cannot open more
// sessions than MaxSessions: the session slot is taken in one step with the
// check, once the handshake is done (issue 25, defect 2: all 30 got one).
func TestMaxSessionsUnderAnUpgradeFlood(t *testing.T) {
	check := func(token string, _ tp.PreSession) *tp.Rerror {
		if token != "secret" {
			return auth.Unauthorized("bad token")
		}
		return nil
	}
	srv := tp.NewPeer(&tp.PeerConfig{MaxSessions: 5}, auth.NewServer(check, nil))
	url := serveWS(t, srv)
	cli := tp.NewPeer(nil, auth.NewClient("secret", nil))
	defer cli.Close()
	const flood = 30
	var wg sync.WaitGroup
	var opened atomic.Int64
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, rerr := Dial(cli, url); rerr == nil {
				opened.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := srv.CountSession(); n > 5 || opened.Load() > 5 {
		t.Fatalf("%d sessions on the server, %d dials succeeded; MaxSessions is 5", n, opened.Load())
	}
	if opened.Load() == 0 {
		t.Fatal("no dial succeeded")
	}
}
