//go:build !unix

package socket

import (
	"io"
	"syscall"
)

// rawReader is empty where read(2) cannot be called directly: fill reads
// through the connection.
type rawReader struct{ rc syscall.RawConn }

func rawConnOf(io.Reader) syscall.RawConn { return nil }

func (b *readAhead) fillRaw() (int, error) { panic("socket: no raw reads on this system") }
