package tp

import (
	"context"

	"github.com/teleport-go/teleport/socket"
)

// Call pulls uri with args on sess and returns the reply decoded into an R,
// with the error as a plain error: nil on success, else a *Rerror (which
// errors.Is and errors.As see through). ctx bounds the call as
// socket.WithContext would, and its deadline travels to the handler; it
// overrides a WithContext among setting. It is a thin layer over
// Session.Pull, for callers who prefer types to reply pointers:
//
//	sum, err := tp.Call[int](ctx, sess, "/math/add", []int{1, 2})
func Call[R any](ctx context.Context, sess Session, uri string, args any, setting ...socket.PacketSetting) (R, error) {
	var reply R
	if ctx != nil {
		setting = append(setting[:len(setting):len(setting)], socket.WithContext(ctx))
	}
	err := sess.Pull(uri, args, &reply, setting...).Err()
	return reply, err
}
