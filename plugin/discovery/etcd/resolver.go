package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	tp "github.com/teleport-go/teleport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Resolver is a tp.Resolver of the instances a Registry lists in etcd: it
// reads the keys under <prefix>/<service>/, then watches them.
type Resolver struct {
	client *clientv3.Client
	prefix string
}

var _ tp.Resolver = (*Resolver)(nil)

// NewResolver returns a resolver reading through client the keys under
// prefix ("": DefaultPrefix).
func NewResolver(client *clientv3.Client, prefix string) *Resolver {
	if client == nil {
		panic("etcd: NewResolver: nil client")
	}
	return &Resolver{client: client, prefix: prefix}
}

// Watch implements tp.Resolver: it lists the instances, then applies each
// change etcd reports, calling update with the whole list each time. It
// returns when ctx ends or the watch fails (etcd without a leader, or the
// revision it watched from compacted away); the balancer then calls it
// again, which reads the list afresh.
func (r *Resolver) Watch(ctx context.Context, service string, update func([]tp.Instance)) error {
	key := ServiceKey(r.prefix, service)
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	resp, err := r.client.Get(ctx, key, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	live := map[string]tp.Instance{}
	for _, kv := range resp.Kvs {
		if in, ok := parse(kv.Key, kv.Value); ok {
			live[string(kv.Key)] = in
		}
	}
	update(list(live))
	wch := r.client.Watch(ctx, key, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key)
			switch ev.Type {
			case clientv3.EventTypePut:
				if in, ok := parse(ev.Kv.Key, ev.Kv.Value); ok {
					live[k] = in
				}
			case clientv3.EventTypeDelete:
				delete(live, k)
			}
		}
		update(list(live))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("etcd resolver: watch ended")
}

// parse reads an instance from a registry key; a value it cannot read is
// skipped, logged.
func parse(key, val []byte) (tp.Instance, bool) {
	var v value
	if err := json.Unmarshal(val, &v); err != nil {
		tp.Warnf("etcd resolver: %s: unreadable value %q: %v", key, val, err)
		return tp.Instance{}, false
	}
	if v.Addr == "" {
		k := string(key)
		v.Addr = k[strings.LastIndexByte(k, '/')+1:]
	}
	return tp.Instance{Addr: v.Addr, Weight: v.Weight, Version: v.Version, Routes: v.Routes, Meta: v.Meta}, v.Addr != ""
}

// list returns the instances sorted by address.
func list(live map[string]tp.Instance) []tp.Instance {
	out := make([]tp.Instance, 0, len(live))
	for _, in := range live {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b tp.Instance) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}
