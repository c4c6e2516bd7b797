package websocket

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"

	cws "github.com/coder/websocket"
	"github.com/teleport-go/teleport/socket"
)

// CloseHandshakeWait bounds how long closing a connection waits for the
// other side to answer its close message before the TCP connection is
// closed anyway: a peer that stopped reading cannot hold up Close.
const CloseHandshakeWait = 250 * time.Millisecond

// maxChunk is the largest message written for bytes that are not whole
// fast-protocol frames.
const maxChunk = 1 << 20

// conn is a WebSocket connection as the net.Conn the socket layer reads and
// writes: the binary messages read are one byte stream, each write goes out
// as messages (one per fast-protocol frame).
type conn struct {
	// Conn is coder/websocket's NetConn over ws: it reads messages as a
	// stream, refuses text messages, writes one message per Write and
	// implements the deadlines.
	net.Conn
	ws  *cws.Conn
	raw net.Conn // what the WebSocket runs on: TCP, or TLS (the TCP under it when dialed)

	local, remote net.Addr
	chunk         int // the longest message written for other bytes

	closeOnce sync.Once
}

var _ net.Conn = (*conn)(nil)

// newConn wraps ws, which runs over raw. The read limit is the packet size
// limit in force now.
func newConn(ws *cws.Conn, raw net.Conn) *conn {
	limit := socket.PacketSizeLimit()
	c := &conn{
		Conn:   cws.NetConn(context.Background(), ws, cws.MessageBinary),
		ws:     ws,
		raw:    raw,
		local:  raw.LocalAddr(),
		remote: raw.RemoteAddr(),
		chunk:  int(min(uint64(limit), maxChunk)),
	}
	// After NetConn, which turns the limit off.
	ws.SetReadLimit(int64(limit))
	return c
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Write sends p as binary messages: each whole fast-protocol frame at the
// start of what is left as one message, any other bytes in messages of at
// most c.chunk bytes. Where p is cut changes nothing for a reader, which
// reads a stream; frame by frame is only easier to follow in a browser's
// developer tools.
func (c *conn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		m := messageLen(p, c.chunk)
		if _, err := c.Conn.Write(p[:m]); err != nil {
			return n, err
		}
		n += m
		p = p[m:]
	}
	return n, nil
}

// messageLen returns how many bytes of p the next message takes: the first
// frame when p starts with a whole fast-protocol frame, else up to chunk.
func messageLen(p []byte, chunk int) int {
	if len(p) >= socket.MinFrameSize && p[4] == socket.FastProtoId {
		size := binary.BigEndian.Uint32(p)
		if size >= socket.MinFrameSize && uint64(size) <= uint64(len(p)) {
			return int(size)
		}
	}
	return min(len(p), chunk)
}

// Close sends a close message (normal closure), waits up to
// CloseHandshakeWait for the answer, and closes the connection. How the
// handshake ended is not reported: the connection is closed either way.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		// The deadline bounds both the close message and the wait for
		// the answer, even with the read loop blocked in a read.
		_ = c.raw.SetDeadline(time.Now().Add(CloseHandshakeWait))
		_ = c.ws.Close(cws.StatusNormalClosure, "")
		_ = c.Conn.Close() // stops NetConn's deadline timers
	})
	return err
}
