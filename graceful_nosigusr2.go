//go:build windows || plan9 || js || wasip1

package tp

import "os"

// rebootSignals are the signals GraceSignal answers with Reboot: none
// where there is no SIGUSR2.
var rebootSignals []os.Signal
