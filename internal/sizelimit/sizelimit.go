// Package sizelimit holds the packet size limit shared by socket, which
// sets it, and the transfer filters, which must not inflate past it.
package sizelimit

import "sync/atomic"

// Default is the limit in force until one is set: 64 MiB (see
// socket.SetPacketSizeLimit for why).
const Default uint32 = 64 << 20

var limit atomic.Uint32

func init() { limit.Store(Default) }

// Set sets the limit; 0 restores Default.
func Set(n uint32) {
	if n == 0 {
		n = Default
	}
	limit.Store(n)
}

// Get returns the limit in force.
func Get() uint32 { return limit.Load() }
