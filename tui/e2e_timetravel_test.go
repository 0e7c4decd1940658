package tui

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"walship/engine/wal"
)

var (
	statusFlushRe = regexp.MustCompile(`flush ([0-9A-F]+/[0-9A-F]+)`)
	pastTwoRe     = regexp.MustCompile(`PAST −2\.[0-2] s`)
)

// statusFlush reads the leader's flush LSN from the status line.
func statusFlush(t *testing.T, screen string) wal.LSN {
	t.Helper()
	first, _, _ := strings.Cut(screen, "\n")
	m := statusFlushRe.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("no flush LSN in the status line:\n%s", screen)
	}
	lsn, err := wal.ParseLSN(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// TestEndToEndLookBack freezes the world in a real terminal, looks two
// seconds back (the PAST banner, an earlier flush LSN, the strip) and
// comes back to the frozen present, at 120x36 and 80x24.
func TestEndToEndLookBack(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	for _, size := range []struct{ w, h int }{{120, 36}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			t.Parallel()
			s := startTmux(t, tmux, bin, size.w, size.h)
			s.waitFor("three seconds of writes", 20*time.Second, func(sc string) bool {
				return strings.Contains(sc, "LEADER") && statusFlush(t, sc) >= 0x200
			})
			s.keys(" ")
			// Frozen, and settled: a flush under way when the world
			// froze may still land.
			var now wal.LSN
			steady := 0
			s.waitFor("the world frozen and settled", 10*time.Second, func(sc string) bool {
				if !strings.Contains(sc, "FROZEN") {
					return false
				}
				f := statusFlush(t, sc)
				if f == now {
					steady++
				} else {
					now, steady = f, 0
				}
				return steady >= 3
			})

			s.press("S-Left")
			s.press("S-Left")
			// Snapshots come some tens of milliseconds apart: the one
			// shown is the last at or before two seconds back.
			sc := s.waitFor("the PAST banner, two seconds back", 5*time.Second, func(sc string) bool {
				return pastTwoRe.MatchString(sc)
			})
			if past := statusFlush(t, sc); past >= now {
				t.Fatalf("two seconds back the leader's flush is %s, not before %s:\n%s", past, now, sc)
			}
			for _, want := range []string{"── time ├", "nothing in it rewound", "esc now"} {
				if !strings.Contains(sc, want) {
					t.Errorf("the past screen lacks %q:\n%s", want, sc)
				}
			}

			s.press("Escape")
			sc = s.waitFor("the present again", 5*time.Second, func(sc string) bool {
				return !strings.Contains(sc, "PAST") && strings.Contains(sc, "── events")
			})
			if back := statusFlush(t, sc); back != now {
				t.Fatalf("back in the frozen present the flush is %s, was %s:\n%s", back, now, sc)
			}
			if !strings.Contains(sc, "FROZEN") {
				t.Fatalf("the world frozen by space should stay frozen:\n%s", sc)
			}

			s.keys("q")
			sc = s.waitFor("walship to quit on q", 10*time.Second, func(sc string) bool {
				return strings.Contains(sc, "walship exited:")
			})
			if !strings.Contains(sc, "walship exited: 0") {
				t.Fatalf("walship did not exit cleanly:\n%s", sc)
			}
		})
	}
}
