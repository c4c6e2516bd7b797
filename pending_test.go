package tp

import (
	"slices"
	"testing"
)

func TestPendingTable(t *testing.T) {
	tests := []struct {
		name string
		n    int // pulls put, seqs 1..n
	}{
		{"inline only", pendingInline - 1},
		{"inline full", pendingInline},
		{"spills into the map", 3 * pendingInline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tab pendingTable
			cmds := make([]*PullCmd, tt.n+1)
			for seq := 1; seq <= tt.n; seq++ {
				cmds[seq] = &PullCmd{}
				if !tab.put(uint64(seq), cmds[seq]) {
					t.Fatal("put refused on an open table")
				}
			}
			if tab.len() != tt.n {
				t.Fatalf("len = %d, want %d", tab.len(), tt.n)
			}
			if tab.take(uint64(tt.n+1)) != nil {
				t.Fatal("took a seq never put")
			}
			for seq := 1; seq <= tt.n; seq += 2 { // the odd ones, once
				if tab.take(uint64(seq)) != cmds[seq] || tab.take(uint64(seq)) != nil {
					t.Fatalf("seq %d taken wrongly", seq)
				}
			}
			// A slot freed inline is reused before the map.
			extra := &PullCmd{}
			tab.put(1000, extra)
			even := tab.takeIf(func(c *PullCmd) bool { return c != extra })
			if len(even) != tt.n/2 {
				t.Fatalf("takeIf took %d, want %d", len(even), tt.n/2)
			}
			rest := tab.close()
			if !slices.Equal(rest, []*PullCmd{extra}) || tab.len() != 0 {
				t.Fatalf("close returned %d pulls, left %d", len(rest), tab.len())
			}
			if tab.put(2000, extra) {
				t.Fatal("put accepted on a closed table")
			}
		})
	}
}
