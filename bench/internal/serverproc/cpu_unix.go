//go:build unix

package serverproc

import (
	"syscall"
	"time"
)

// CPUTime returns this process's user plus system CPU time. getrusage has
// microsecond resolution, unlike the clock ticks of /proc/PID/stat.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
