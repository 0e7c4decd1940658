package cluster

import (
	"errors"
	"slices"
	"testing"
)

func TestParseCommandRoundTrip(t *testing.T) {
	for _, line := range []string{
		"pause follower-1", "resume all", "cut follower-2", "restore all",
		"cut follower-1 to", "cut all from", "drop follower-2", "drop follower-1 0/1A2B",
		"latency follower-3 400ms", "latency all 300ms 50ms", "bandwidth follower-1 64KiB",
		"bandwidth follower-1 off", "corrupt follower-1", "corrupt follower-2 0/1A2B",
		"slice follower-2 on", "crash follower-1", "restart follower-1", "backup follower-3",
		"apply-delay all 20ms", "flush-delay follower-1 100ms", "add", "remove follower-4",
		"sync remote_apply 1", "sync off", "sync on 2", "rate 20", "write 100",
		"set k1 hello", `set "a key" "a value"`, "set \"#hash\" \"tab\there\"", `set "q\"uote" "back\\slash"`,
		"del k1", `del "#k"`, "freeze", "unfreeze",
		"speed 0.5", "wal-keep 256KiB", "slots on", "checkpoint", "promote follower-2",
	} {
		c, err := ParseCommand(line)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", line, err)
			continue
		}
		if got := c.String(); got != line {
			t.Errorf("ParseCommand(%q).String() = %q", line, got)
		}
	}
}

func TestParseCommandNormalises(t *testing.T) {
	for in, want := range map[string]string{
		"pause 2":                 "pause follower-2",
		"PAUSE follower-2":        "pause follower-2",
		"sync remote_apply ANY 2": "sync remote_apply 2",
		"sync on":                 "sync on 1",
		"speed 2x":                "speed 2",
		"latency 1 0":             "latency follower-1 0",
		"cut 2 TO":                "cut follower-2 to",
	} {
		c, err := ParseCommand(in)
		if err != nil {
			t.Fatalf("ParseCommand(%q): %v", in, err)
		}
		if got := c.String(); got != want {
			t.Errorf("ParseCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for line, col := range map[string]int{
		"":                  1,
		"dance":             1,
		"pause":             6,
		"pause bob":         7,
		"crash all":         7,
		"latency 1 fast":    11,
		"sync sometimes":    6,
		"rate -4":           6,
		"write 10 more":     10,
		`set "open`:         5,
		"slice 1 maybe":     9,
		"bandwidth 1 lots":  13,
		"speed 0":           7,
		"corrupt 1 nowhere": 11,
		"cut 1 sideways":    7,
		"drop all":          6,
	} {
		_, err := ParseCommand(line)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseCommand(%q) = %v, want a ParseError", line, err)
			continue
		}
		if pe.Column != col {
			t.Errorf("ParseCommand(%q): column %d, want %d (%v)", line, pe.Column, col, err)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		line     string
		comments bool
		want     []Word
	}{
		{"  set\t\"a \\\"b\\\"\" v ", false, []Word{{"set", 3, 5, false}, {`a "b"`, 7, 15, true}, {"v", 17, 17, false}}},
		{`del "k"x`, false, []Word{{"del", 1, 3, false}, {"k", 5, 7, true}, {"x", 8, 8, false}}},
		{"pause 2 # why", false, []Word{{"pause", 1, 5, false}, {"2", 7, 7, false}, {"#", 9, 9, false}, {"why", 11, 13, false}}},
		{"pause 2 # why", true, []Word{{"pause", 1, 5, false}, {"2", 7, 7, false}}},
		{`say "# not a comment" a#b`, true, []Word{{"say", 1, 3, false}, {"# not a comment", 5, 21, true}, {"a#b", 23, 25, false}}},
	} {
		got, err := SplitWords(tc.line, tc.comments)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SplitWords(%q, %v) = %v, %v; want %v", tc.line, tc.comments, got, err, tc.want)
		}
	}
	got, err := SplitWords(`set k "open`, false)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Column != 7 || !slices.Equal(got, []Word{{"set", 1, 3, false}, {"k", 5, 5, false}}) {
		t.Errorf("an unclosed quote: %v, %v; want the words before it and an error at column 7", got, err)
	}
}

func TestFollowerIndex(t *testing.T) {
	for in, want := range map[string]int{"2": 2, "follower-3": 3, "Follower-12": 12, "+4": 4, "0": 0, "follower-0": 0, "-1": 0, "all": 0, "follower-": 0, "follower-x": 0, "follower2": 0} {
		i, ok := FollowerIndex(in)
		if ok != (want > 0) || ok && i != want {
			t.Errorf("FollowerIndex(%q) = %d, %v; want %d", in, i, ok, want)
		}
	}
}
