//go:build !windows && !plan9 && !js && !wasip1

package tp

import (
	"os"
	"syscall"
)

// rebootSignals are the signals GraceSignal answers with Reboot.
var rebootSignals = []os.Signal{syscall.SIGUSR2}
