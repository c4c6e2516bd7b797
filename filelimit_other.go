//go:build !unix

package tp

// openFileLimit returns 0: the system has no per-process limit to read.
func openFileLimit() int { return 0 }
