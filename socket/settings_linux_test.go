package socket

import (
	"syscall"
	"testing"
	"time"

	"github.com/teleport-go/teleport/internal/loopback"
)

// TestKeepAliveSettings: a socket gets the keep-alive period as its idle
// time and as the interval between probes (the interval was left at the
// dialer's 15 s before, so a 1 s period found a vanished peer after
// 1 + 9 × 15 s instead of 10 s: found by bench/cmd/faults), or none.
func TestKeepAliveSettings(t *testing.T) {
	defer SetKeepAlivePeriod(0)
	tests := []struct {
		period                time.Duration
		on                    int
		idle, interval, count int
	}{
		{2 * time.Second, 1, 2, 2, 9},
		{time.Minute, 1, 60, 60, 9},
		{-1, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.period.String(), func(t *testing.T) {
			SetKeepAlivePeriod(tt.period)
			a, _ := loopback.TCPPair(t)
			s := NewSocket(a)
			defer s.Close()
			get := func(level, opt int) int {
				raw, err := a.SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				var v int
				var gerr error
				if err := raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || gerr != nil {
					t.Fatal(err, gerr)
				}
				return v
			}
			if on := get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); on != tt.on {
				t.Fatalf("SO_KEEPALIVE %d, want %d", on, tt.on)
			}
			if tt.on == 0 {
				return
			}
			got := [3]int{get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL), get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)}
			if want := [3]int{tt.idle, tt.interval, tt.count}; got != want {
				t.Fatalf("idle, interval, probes = %v, want %v", got, want)
			}
		})
	}
}
