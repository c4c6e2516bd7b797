package websocket

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"

	cws "github.com/coder/websocket"
	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
)

func init() {
	tp.RegDialer("ws", dial)
	tp.RegDialer("wss", dial)
}

// Dial connects peer to the WebSocket URL url ("ws://host:port/path" or
// "wss://…") and starts a session on it. It is peer.Dial(url,
// protoFunc...), which accepts such URLs once this package is imported;
// the session redials the URL after a lost connection when
// PeerConfig.RedialTimes allows.
func Dial(peer *tp.Peer, url string, protoFunc ...socket.ProtoFunc) (tp.Session, *tp.Rerror) {
	return peer.Dial(url, protoFunc...)
}

// dial is the tp.DialFunc of the "ws" and "wss" schemes: an HTTP upgrade
// over a connection of its own, TLS from the peer's configuration for wss.
func dial(ctx context.Context, peer *tp.Peer, url string) (net.Conn, error) {
	var (
		mu  sync.Mutex
		raw net.Conn
	)
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				raw = c
				mu.Unlock()
			}
			return c, err
		},
		TLSClientConfig: peer.TLSConfig(), // cloned by the transport; nil: system roots
	}
	// A refused upgrade may leave its connection idle in tr.
	defer tr.CloseIdleConnections()
	ws, resp, err := cws.Dial(ctx, url, &cws.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket: dial %s: %s: %w", url, resp.Status, err)
		}
		return nil, fmt.Errorf("websocket: dial %s: %w", url, err)
	}
	mu.Lock()
	c := raw
	mu.Unlock()
	return newConn(ws, c), nil
}
