// Package netpoll waits for many connections to become readable on one
// goroutine, so that an idle connection needs no goroutine of its own.
//
// A Watch is armed once per wait and fires once (edge of readiness, Linux
// epoll with EPOLLONESHOT); its callback then hands the reading to a
// goroutine of the caller's choice, which reads through the connection as
// usual. Go's own poller keeps the connection registered too, so reads,
// writes and deadlines work as they always do.
//
// On systems other than Linux New returns ErrUnsupported and callers wait
// with a goroutine per connection instead.
package netpoll

import "errors"

// ErrUnsupported is returned by New where there is no poller.
var ErrUnsupported = errors.New("netpoll: not supported on this system")

// ErrClosed is returned by Arm once the poller is closed, and when the
// connection is closed.
var ErrClosed = errors.New("netpoll: closed")
