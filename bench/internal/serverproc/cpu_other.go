//go:build !unix

package serverproc

import "time"

// CPUTime is unknown on this platform; the CPU column then reads zero.
func CPUTime() time.Duration { return 0 }
