// Package seqpacket turns a message-oriented connection (SOCK_SEQPACKET,
// Go's "unixpacket") into the byte stream the framing and TLS expect: on
// such a connection each write is one message, and a read shorter than a
// message loses the rest of it.
package seqpacket

import (
	"bufio"
	"net"
)

// Chunk is the largest message written, and the least read buffer.
const Chunk = 64 << 10

// Is reports whether c is message-oriented.
func Is(c net.Conn) bool {
	a := c.LocalAddr()
	return a != nil && a.Network() == "unixpacket"
}

// Wrap returns c as a byte stream when it is message-oriented, c otherwise.
// Wrapping twice is harmless.
func Wrap(c net.Conn) net.Conn {
	if _, ok := c.(*Conn); ok || !Is(c) {
		return c
	}
	return &Conn{Conn: c, r: bufio.NewReaderSize(c, Chunk)}
}

// Conn reads whole messages into a buffer at least as large as any message
// written, and writes in messages of at most Chunk bytes.
type Conn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the reassembled stream.
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write writes p in messages of at most Chunk bytes.
func (c *Conn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		m, err := c.Conn.Write(p[:min(len(p), Chunk)])
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// Listener wraps the connections it accepts with Wrap.
type Listener struct{ net.Listener }

// Accept accepts a connection and wraps it.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
