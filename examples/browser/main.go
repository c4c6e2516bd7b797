// Command browser serves a web page that is a teleport peer: the page
// (static/, using the TypeScript client from js/dist) connects to this
// server over WebSocket, pulls it, shows a push from it, and answers a
// pull the server sends it; then it streams words to the server, and the
// server streams numbers to it.
//
//	go run ./examples/browser            # from the repository root
//	go run ./examples/browser -addr 127.0.0.1:0 -js path/to/js/dist
//
// It prints the address to open, then what happens, until interrupted.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
	"github.com/teleport-go/teleport/websocket"
)

//go:embed static
var static embed.FS

// Chat is the pull controller the page calls.
type Chat struct {
	tp.PullCtx
}

// Hello greets the page, then pushes to it and pulls it: the page shows
// the push and answers the pull.
func (c *Chat) Hello(name *string) (string, *tp.Rerror) {
	sess := c.Session()
	out := outOf(c.Peer())
	fmt.Fprintf(out, "the page pulled /chat/hello (session %s)\n", sess.Id())
	go func() {
		if rerr := sess.Push("/page/news", "pushed by the Go server"); rerr != nil {
			fmt.Fprintf(out, "push to the page failed: %v\n", rerr)
			return
		}
		var answer string
		if rerr := sess.Pull("/page/whoami", "who are you?", &answer).Rerror(); rerr != nil {
			fmt.Fprintf(out, "pull of the page failed: %v\n", rerr)
			return
		}
		fmt.Fprintf(out, "server pulled the page: %q\n", answer)
		streamToPage(sess, out)
	}()
	return fmt.Sprintf("hello, %s, from Go", *name), nil
}

// streamToPage opens a stream to the page's /page/tally, sends it the
// numbers 1 to 5, and prints the sum the page answers.
func streamToPage(sess tp.Session, out io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, rerr := sess.OpenStream("/page/tally", nil, socket.WithContext(ctx))
	if rerr != nil {
		fmt.Fprintf(out, "stream to the page failed: %v\n", rerr)
		return
	}
	defer st.Close()
	for i := 1; i <= 5; i++ {
		if err := st.Send(i); err != nil {
			fmt.Fprintf(out, "stream to the page failed: %v\n", err)
			return
		}
	}
	st.CloseSend()
	var sum int
	if err := st.Recv(&sum); err != nil {
		fmt.Fprintf(out, "stream to the page failed: %v\n", err)
		return
	}
	fmt.Fprintf(out, "server streamed 1 to 5 to the page, which summed them: %d\n", sum)
}

// Feed is the stream controller the page opens.
type Feed struct {
	tp.StreamCtx
}

// Upper sends back every word it receives in upper case.
func (f *Feed) Upper(*struct{}) *tp.Rerror {
	for {
		var w string
		if err := f.Recv(&w); err == io.EOF {
			return nil
		} else if err != nil {
			return tp.NewRerror(tp.CodeBadPacket, "Bad Packet", err.Error())
		}
		if err := f.Send(strings.ToUpper(w)); err != nil {
			return tp.NewRerror(tp.CodeWriteFailed, "Write Failed", err.Error())
		}
	}
}

// outs maps each peer to where it prints, for the handlers.
var outs sync.Map // *tp.Peer -> *syncWriter

func outOf(p *tp.Peer) io.Writer {
	if w, ok := outs.Load(p); ok {
		return w.(*syncWriter)
	}
	return io.Discard // the server has stopped
}

// syncWriter serialises the lines printed from handlers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// newServer returns the peer and the HTTP handler that serves the page
// (/), the client library (/js/, from jsDir) and the WebSocket (/tp).
func newServer(jsDir string, out io.Writer) (*tp.Peer, http.Handler, error) {
	if _, err := os.Stat(filepath.Join(jsDir, "index.js")); err != nil {
		return nil, nil, fmt.Errorf("the TypeScript client is not in %s (run from the repository root, or build it: cd js && npm ci && npm run build): %w", jsDir, err)
	}
	peer := tp.NewPeer(nil)
	outs.Store(peer, &syncWriter{w: out})
	peer.PullRouter.Reg(new(Chat))
	peer.StreamRouter.Reg(new(Feed))

	page, err := fs.Sub(static, "static")
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/tp", websocket.NewHandler(peer, nil))
	mux.Handle("/js/", http.StripPrefix("/js/", http.FileServer(http.Dir(jsDir))))
	mux.Handle("/", http.FileServerFS(page))
	return peer, mux, nil
}

// run serves on addr until ctx ends.
func run(ctx context.Context, addr, jsDir string, out io.Writer) error {
	peer, handler, err := newServer(jsDir, out)
	if err != nil {
		return err
	}
	defer outs.Delete(peer)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(lis) }()
	fmt.Fprintf(outOf(peer), "open http://%s/ in a browser\n", lis.Addr())
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	peer.Close() // the WebSocket sessions: the HTTP server does not see them
	_ = hs.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the address to serve on")
	jsDir := flag.String("js", "js/dist", "the directory of the built TypeScript client")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *jsDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		os.Exit(1)
	}
}
