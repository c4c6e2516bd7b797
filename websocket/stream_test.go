package websocket

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/tptest"
)

// TestStreams: streams work over ws:// and wss://, opened by either side.
func TestStreams(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "ws", true: "wss"}[secure]
		t.Run(name, func(t *testing.T) {
			watch := newAcceptWatch()
			srv := tp.NewPeer(nil, watch)
			srv.StreamRouter.Reg(new(tptest.Echo))
			cli := tp.NewPeer(nil)
			cli.StreamRouter.Reg(new(tptest.Echo))
			defer cli.Close()
			var url string
			if secure {
				hs := httptest.NewTLSServer(newMux(srv, nil))
				defer hs.Close()
				pool := x509.NewCertPool()
				pool.AddCert(hs.Certificate())
				cli.SetTLSConfig(&tls.Config{RootCAs: pool})
				url = "wss" + strings.TrimPrefix(hs.URL, "https") + "/tp"
			} else {
				hs := httptest.NewServer(newMux(srv, nil))
				defer hs.Close()
				url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/tp"
			}
			defer srv.Close()
			sess, rerr := Dial(cli, url)
			if rerr != nil {
				t.Fatal(rerr)
			}
			srvSess := watch.next(t)
			for _, side := range []tp.Session{sess, srvSess} {
				st, rerr := side.OpenStream("/echo/back", nil)
				if rerr != nil {
					t.Fatal(rerr)
				}
				for _, msg := range []string{"a", strings.Repeat("b", 100<<10), "c"} {
					if err := st.Send(msg); err != nil {
						t.Fatal(err)
					}
					var got string
					if err := st.Recv(&got); err != nil || got != msg {
						t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(got), err)
					}
				}
				st.CloseSend()
				if err := st.Recv(new(string)); err != io.EOF {
					t.Fatalf("end: %v", err)
				}
				st.Close()
			}
		})
	}
}
