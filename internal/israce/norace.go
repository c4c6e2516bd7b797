//go:build !race

// Package israce tells tests whether the race detector is on: under it,
// sync.Pool drops items at random, so allocation counts are meaningless.
package israce

// Enabled is true when built with -race.
const Enabled = false
