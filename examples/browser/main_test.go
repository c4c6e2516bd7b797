package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/leaktest"
	"github.com/teleport-go/teleport/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.Options()...) }

// lockedBuffer is the server's output, read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Page is the Go stand-in for the web page's handlers.
type Page struct{ tp.PullCtx }

// page plays the page's stream handler. Its type is named page
// (unexported, as Page is taken by the pulls) for the route /page/tally.
type page struct{ tp.StreamCtx }

// Tally sums what it receives, as the page does.
func (p *page) Tally(*struct{}) *tp.Rerror {
	sum := 0
	for {
		var n int
		if err := p.Recv(&n); err != nil {
			break
		}
		sum += n
	}
	if err := p.Send(sum); err != nil {
		return tp.NewRerror(tp.CodeWriteFailed, "Write Failed", err.Error())
	}
	return nil
}

// Whoami answers the server's pull as the page does.
func (p *Page) Whoami(q *string) (string, *tp.Rerror) { return "a Go stand-in for the page", nil }

// TestServer serves the page and the client library, and plays the page's
// part with a Go peer over the WebSocket (the browser test in js/ does it
// with the real page in Chromium).
func TestServer(t *testing.T) {
	var out lockedBuffer
	peer, handler, err := newServer("../../js/dist", &out)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(handler)
	defer hs.Close()
	defer peer.Close()

	for _, tt := range []struct{ path, contentType, contains string }{
		{"/", "text/html", `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript", `from './js/index.js'`},
		{"/js/index.js", "text/javascript", "export"},
	} {
		resp, err := http.Get(hs.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) || !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: %d %s, body lacks %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.contains)
		}
	}

	news := make(chan string, 1)
	pagePeer := tp.NewPeer(nil)
	defer pagePeer.Close()
	pagePeer.PullRouter.Reg(new(Page))
	pagePeer.StreamRouter.Reg(new(page))
	pagePeer.PushRouter.SetUnknown(func(ctx tp.UnknownPushCtx) {
		var s string
		if _, err := ctx.Bind(&s); err == nil && ctx.Path() == "/page/news" {
			news <- s
		}
	})
	sess, rerr := websocket.Dial(pagePeer, "ws"+strings.TrimPrefix(hs.URL, "http")+"/tp")
	if rerr != nil {
		t.Fatal(rerr)
	}
	var reply string
	if rerr := sess.Pull("/chat/hello", "go", &reply).Rerror(); rerr != nil || reply != "hello, go, from Go" {
		t.Fatalf("pull: %q, %v", reply, rerr)
	}
	select {
	case s := <-news:
		if s != "pushed by the Go server" {
			t.Errorf("push: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push")
	}
	st, rerr := sess.OpenStream("/feed/upper", nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, w := range []string{"stream", "from", "go"} {
		if err := st.Send(w); err != nil {
			t.Fatal(err)
		}
		var up string
		if err := st.Recv(&up); err != nil || up != strings.ToUpper(w) {
			t.Fatalf("stream: %q, %v", up, err)
		}
	}
	st.Close()
	for _, want := range []string{
		`server pulled the page: "a Go stand-in for the page"`,
		"server streamed 1 to 5 to the page, which summed them: 15",
	} {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("output lacks %q:\n%s", want, out.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestRun starts and stops the program as main does.
func TestRun(t *testing.T) {
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", "../../js/dist", &out) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "open http://127.0.0.1:") {
		if time.Now().After(deadline) {
			t.Fatalf("no address printed: %q", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), "127.0.0.1:0", "no/such/dir", io.Discard); err == nil || !strings.Contains(err.Error(), "npm run build") {
		t.Errorf("without the client: %v", err)
	}
}
