package tracing

import (
	"strings"
)

// Unmatched is the name of the server span of a received pull or push
// whose path is no registered route.
const Unmatched = "<unmatched>"

// uriPath returns uri without its query.
func uriPath(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}
