package runner

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The raw-TCP frame: body length uint32, request id uint64, body; big-endian.
const (
	frameHeaderLen = 12
	// maxBody bounds the body length a peer may declare, so that a bad
	// frame costs an error rather than an allocation of up to 4 GiB. The
	// sweep's largest message is 1 MiB.
	maxBody = 4 << 20
)

// zeroHeader is appended to reserve a header that is filled in once the
// body length is known.
var zeroHeader [frameHeaderLen]byte

// errBodyTooLarge is returned when a frame declares a body over maxBody.
var errBodyTooLarge = errors.New("runner: frame body over the size limit")

// putHeader writes a header for a body of n bytes into b[:frameHeaderLen].
func putHeader(b []byte, n int, id uint64) {
	binary.BigEndian.PutUint32(b[0:4], uint32(n))
	binary.BigEndian.PutUint64(b[4:12], id)
}

// readHeader reads one frame header from br into hdr and returns the id and
// the checked body length.
func readHeader(br *bufio.Reader, hdr *[frameHeaderLen]byte) (id uint64, n int, err error) {
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, 0, err
	}
	size := binary.BigEndian.Uint32(hdr[0:4])
	if size > maxBody {
		return 0, 0, fmt.Errorf("%w: %d bytes", errBodyTooLarge, size)
	}
	return binary.BigEndian.Uint64(hdr[4:12]), int(size), nil
}

// readBody reads n bytes from br into buf, growing it as needed, and
// returns the filled slice.
func readBody(br *bufio.Reader, buf []byte, n int) ([]byte, error) {
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(br, buf)
	return buf, err
}
