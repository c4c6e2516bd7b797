package tracing

import (
	"go.opentelemetry.io/otel/propagation"

	"github.com/teleport-go/teleport/utils"
)

// MetaCarrier adapts packet metadata to propagation.TextMapCarrier. Keys
// are matched exactly: the W3C propagator writes and reads them in lower
// case.
type MetaCarrier struct {
	Meta *utils.Args
}

var _ propagation.TextMapCarrier = MetaCarrier{}

// Get returns the first value of key, "" if there is none.
func (c MetaCarrier) Get(key string) string { return string(c.Meta.Peek(key)) }

// Set replaces every value of key with value.
func (c MetaCarrier) Set(key, value string) { c.Meta.Set(key, value) }

// Keys returns the keys of the metadata, each once, in order.
func (c MetaCarrier) Keys() []string {
	keys := make([]string, 0, c.Meta.Len())
	c.Meta.VisitAll(func(k, _ []byte) {
		for _, seen := range keys {
			if seen == string(k) {
				return
			}
		}
		keys = append(keys, string(k))
	})
	return keys
}
