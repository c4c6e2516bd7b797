//go:build unix

package tp

import "syscall"

// openFileLimit returns the process's limit on open files (the soft
// RLIMIT_NOFILE, which Go raises to the hard limit at start-up), or 0 when
// it cannot be read or is unlimited.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}
