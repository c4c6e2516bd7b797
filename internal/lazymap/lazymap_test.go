package lazymap

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMapIsMadeOnceOnFirstUse(t *testing.T) {
	var l Map
	if l.Len() != 0 || l.p.Load() != nil {
		t.Fatal("a fresh Map holds a map")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Get().Store(i, i)
		}()
	}
	wg.Wait()
	if l.Len() != 8 {
		t.Fatalf("%d entries, want 8: concurrent first uses made several maps", l.Len())
	}
	l.Reset()
	if l.Len() != 0 {
		t.Fatal("Reset kept the map")
	}
}
