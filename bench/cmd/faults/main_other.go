//go:build !linux

// Command faults measures network faults in Linux network namespaces; see
// main.go. Elsewhere it says so and exits.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "faults: network namespaces are Linux only")
	os.Exit(2)
}
