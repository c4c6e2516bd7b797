package stats

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// IsTerminal reports whether w is a character device, such as a terminal.
// A progress line is only useful there: in a file or pipe its carriage
// returns would only add noise.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Progress redraws one line with the calls done and the current TPS about
// once a second until Stop.
type Progress struct {
	w      io.Writer
	done   func() int64
	total  int64
	stopCh chan struct{}
	wg     sync.WaitGroup
}

// StartProgress starts a progress line on w; done reports the calls done
// so far and total is the planned number (0 when unknown, as in a timed
// run). It draws nothing unless w is a terminal.
func StartProgress(w io.Writer, total int64, done func() int64) *Progress {
	p := &Progress{w: w, done: done, total: total, stopCh: make(chan struct{})}
	if !IsTerminal(w) {
		return p
	}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *Progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := p.done(), time.Now()
	for {
		select {
		case now := <-t.C:
			n := p.done()
			tps := float64(n-last) / now.Sub(lastAt).Seconds()
			last, lastAt = n, now
			if p.total > 0 {
				fmt.Fprintf(p.w, "\r%d/%d calls, %.0f TPS    ", n, p.total, tps)
			} else {
				fmt.Fprintf(p.w, "\r%d calls, %.0f TPS    ", n, tps)
			}
		case <-p.stopCh:
			return
		}
	}
}

// Stop ends the progress line and clears it. It may be called once.
func (p *Progress) Stop() {
	close(p.stopCh)
	p.wg.Wait()
	if IsTerminal(p.w) {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
