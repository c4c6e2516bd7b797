package websocket

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/internal/tptest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	tptest.DiscardLogs()
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// transport serves a peer for a test and names the address to dial it.
type transport struct {
	name  string
	serve func(t testing.TB, srv *tp.Peer) string
}

// transports are the ways a Go peer is reached: every behaviour test runs
// over each, so WebSocket is held to what TCP does.
var transports = []transport{
	{"tcp", tptest.Serve},
	{"ws", serveWS},
}

// serveWS serves srv's WebSocket handler on /tp of a loopback HTTP server
// until the test ends, next to a route of the user's own (/hello), and
// returns the ws:// URL.
func serveWS(t testing.TB, srv *tp.Peer) string {
	t.Helper()
	hs := httptest.NewServer(newMux(srv, nil))
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/tp"
}

// newMux is a user's mux with the WebSocket handler mounted on /tp.
func newMux(srv *tp.Peer, cfg *Config) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/tp", NewHandler(srv, cfg))
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello"))
	})
	return mux
}

// acceptWatch hands every session the server accepts to the test.
type acceptWatch struct{ ch chan tp.Session }

func newAcceptWatch() *acceptWatch { return &acceptWatch{ch: make(chan tp.Session, 16)} }

func (a *acceptWatch) Name() string { return "accept-watch" }
func (a *acceptWatch) PostAccept(s tp.PreSession) *tp.Rerror {
	a.ch <- s.(tp.Session)
	return nil
}

// next returns the next session accepted.
func (a *acceptWatch) next(t testing.TB) tp.Session {
	t.Helper()
	select {
	case s := <-a.ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the server accepted no session")
		return nil
	}
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var _ net.Conn = (*conn)(nil)
