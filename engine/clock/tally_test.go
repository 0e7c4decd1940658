package clock

import (
	"testing"
	"time"
)

func TestTallyMergesPerSecond(t *testing.T) {
	var tl Tally
	t0 := time.Unix(1000, 0)
	if n := tl.Add(t0); n != 1 {
		t.Fatalf("first occurrence: report %d, want 1", n)
	}
	for i := 1; i <= 5; i++ {
		if n := tl.Add(t0.Add(time.Duration(i) * 100 * time.Millisecond)); n != 0 {
			t.Fatalf("occurrence %d within the second reported %d", i, n)
		}
	}
	if n := tl.Add(t0.Add(time.Second)); n != 6 {
		t.Fatalf("after a second: report %d, want 6 (five merged and this one)", n)
	}
	if n := tl.Add(t0.Add(1500 * time.Millisecond)); n != 0 {
		t.Fatalf("half a second after a report: %d, want 0", n)
	}
}
