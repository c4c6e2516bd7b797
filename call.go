package tp

import (
	"context"

	"github.com/teleport-go/teleport/socket"
)

// Puller is what Call sends its pull through: a Session, or a *Balancer
// that picks one of its instances' sessions.
type Puller interface {
	// Pull sends a pull and waits for its end, decoding the reply body
	// into reply.
	Pull(uri string, args interface{}, reply interface{}, setting ...socket.PacketSetting) *PullCmd
}

var (
	_ Puller = Session(nil)
	_ Puller = (*Balancer)(nil)
)

// Call pulls uri with args through p (a Session or a *Balancer) and returns the reply decoded into an R,
// with the error as a plain error: nil on success, else a *Rerror (which
// errors.Is and errors.As see through). ctx bounds the call as
// socket.WithContext would, and its deadline travels to the handler; it
// overrides a WithContext among setting. It is a thin layer over
// Pull, for callers who prefer types to reply pointers:
//
//	sum, err := tp.Call[int](ctx, sess, "/math/add", []int{1, 2})
//	sum, err = tp.Call[int](ctx, balancer, "/math/add", []int{1, 2})
func Call[R any](ctx context.Context, p Puller, uri string, args any, setting ...socket.PacketSetting) (R, error) {
	var reply R
	if ctx != nil {
		setting = append(setting[:len(setting):len(setting)], socket.WithContext(ctx))
	}
	err := p.Pull(uri, args, &reply, setting...).Err()
	return reply, err
}
