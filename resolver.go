package tp

import (
	"context"
	"strconv"
)

// Instance is one server peer of a service, as a Resolver reports it.
type Instance struct {
	// Addr is the address to dial; it identifies the instance.
	Addr string
	// Weight is the instance's share of the calls relative to the
	// others; 0 or less means 1.
	Weight int
	// Version is the version the instance runs, for information.
	Version string
	// Routes lists the pull and push routes the instance serves. When it
	// is not empty, a Balancer gives the instance only calls to these
	// routes (an instance of an older version is not asked for a route it
	// lacks); empty means every route.
	Routes []string
	// Meta holds anything else the registry records.
	Meta map[string]string
}

// Resolver follows the live instances of a service.
type Resolver interface {
	// Watch calls update with the complete list of the live instances
	// of service, first with the list as it is now, then each time it
	// changes, until ctx is done; then it returns ctx.Err(). It returns
	// another error when it cannot go on watching (a Balancer then calls
	// it again after a pause). Calls to update are never concurrent and
	// update must not keep the slice.
	Watch(ctx context.Context, service string, update func([]Instance)) error
}

// StaticResolver is a Resolver for a fixed list of instances, for users
// without a registry. It ignores the service name.
type StaticResolver []Instance

var _ Resolver = StaticResolver(nil)

// StaticAddrs returns a StaticResolver of instances at addrs, of weight 1.
func StaticAddrs(addrs ...string) StaticResolver {
	r := make(StaticResolver, len(addrs))
	for i, a := range addrs {
		r[i] = Instance{Addr: a}
	}
	return r
}

// Watch reports the list once and waits for ctx.
func (r StaticResolver) Watch(ctx context.Context, _ string, update func([]Instance)) error {
	update(append([]Instance(nil), r...))
	<-ctx.Done()
	return ctx.Err()
}

// weight returns the instance's weight, at least 1.
func (in *Instance) weight() int {
	if in.Weight <= 0 {
		return 1
	}
	return in.Weight
}

// String returns the address and, when not 1, the weight.
func (in Instance) String() string {
	if in.Weight > 1 {
		return in.Addr + " (weight " + strconv.Itoa(in.Weight) + ")"
	}
	return in.Addr
}
