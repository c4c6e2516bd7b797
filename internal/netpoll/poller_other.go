//go:build !linux

package netpoll

import "syscall"

// Poller is not available on this system.
type Poller struct{}

// Watch is not available on this system.
type Watch struct{}

// New returns ErrUnsupported on this system.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Arm returns ErrUnsupported on this system.
func (p *Poller) Arm(w *Watch, rc syscall.RawConn, fire func()) error { return ErrUnsupported }

// Forget does nothing on this system.
func (p *Poller) Forget(w *Watch) {}

// Close does nothing on this system.
func (p *Poller) Close() error { return nil }
