package scenario

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"walship/engine/cluster"
)

const goodFile = `# a comment
title "Good \"file\""
summary "One of each."
followers 3

rate 0   # trailing comment
latency all 200ms

chapter "One"
say "Hello, wörld"
at 3s cut 2
after 500ms expect follower-2 state cut within 2s
wait 1s
expect follower-1 replay < flush
	set "a key" "# not a comment"

chapter "Two"
after 1s say "timed caption"
expect follower-3 state "needs base backup"
expect follower-3 state needs base backup
expect waiting-commits > 0
expect all matches leader
expect 1 not paused
expect follower-1 write = leader insert
expect follower-1 replay = follower-2 replay
expect follower-1 replay-lag < 2s
expect leader retained >= 64KiB
expect follower-1 keys = leader
expect follower-2 replay >= 0/1A2B
expect leader commits rises within 3s
expect follower-1 replay steady for 2s
`

func TestParseGood(t *testing.T) {
	sc, err := Parse("good.scn", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Title != `Good "file"` || sc.Summary != "One of each." || sc.Followers != 3 {
		t.Errorf("title %q summary %q", sc.Title, sc.Summary)
	}
	if len(sc.Setup) != 2 || sc.Setup[0].Command.String() != "rate 0" || sc.Setup[1].Command.String() != "latency all 200ms" {
		t.Errorf("setup = %+v", sc.Setup)
	}
	if len(sc.Chapters) != 2 || sc.Chapters[0].Title != "One" || sc.Chapters[0].Line != 9 {
		t.Fatalf("chapters = %+v", sc.Chapters)
	}
	one := sc.Chapters[0].Steps
	want := []struct {
		line   int
		timing Timing
		delay  time.Duration
		kind   StepKind
	}{
		{10, TimingNext, 0, StepSay},
		{11, TimingAt, 3 * time.Second, StepCommand},
		{12, TimingAfter, 500 * time.Millisecond, StepExpect},
		{13, TimingAfter, time.Second, StepWait},
		{14, TimingNext, 0, StepExpect},
		{15, TimingNext, 0, StepCommand},
	}
	if len(one) != len(want) {
		t.Fatalf("chapter one has %d steps, want %d", len(one), len(want))
	}
	for i, w := range want {
		s := one[i]
		if s.Line != w.line || s.Timing != w.timing || s.Delay != w.delay || s.Kind != w.kind {
			t.Errorf("step %d = line %d timing %d delay %s kind %d, want %+v", i, s.Line, s.Timing, s.Delay, s.Kind, w)
		}
	}
	if one[0].Text != "Hello, wörld" {
		t.Errorf("caption %q", one[0].Text)
	}
	if c := one[1].Command; c.Verb != cluster.VerbCut || c.Follower != "follower-2" {
		t.Errorf("at 3s cut 2 = %+v", c)
	}
	if e := one[2].Expect; e.Subject != "follower-2" || e.Field != "state" || e.State != cluster.StateCut || e.Within != 2*time.Second {
		t.Errorf("expect = %+v", e)
	}
	if e := one[4].Expect; e.Within != DefaultWithin || e.Op != OpLt || e.Value != (Operand{Subject: "self", Field: "flush"}) {
		t.Errorf("expect replay < flush = %+v", e)
	}
	if c := one[5].Command; c.Key != "a key" || c.Value != "# not a comment" {
		t.Errorf("set = %+v", c)
	}
	if one[2].Source != "after 500ms expect follower-2 state cut within 2s" {
		t.Errorf("source %q", one[2].Source)
	}

	two := sc.Chapters[1].Steps
	exp := func(i int) Expect { return *two[i].Expect }
	for i, want := range []Expect{
		{Subject: "follower-3", Field: "state", State: cluster.StateNeedsBackup},
		{Subject: "follower-3", Field: "state", State: cluster.StateNeedsBackup},
		{Subject: "leader", Field: "waiting-commits", Op: OpGt},
		{Subject: "all", Field: "matches"},
		{Subject: "follower-1", Field: "paused", Not: true},
		{Subject: "follower-1", Field: "write", Op: OpEq, Value: Operand{Subject: "leader", Field: "insert"}},
		{Subject: "follower-1", Field: "replay", Op: OpEq, Value: Operand{Subject: "follower-2", Field: "replay"}},
		{Subject: "follower-1", Field: "replay-lag", Op: OpLt, Value: Operand{N: int64(2 * time.Second)}},
		{Subject: "leader", Field: "retained", Op: OpGe, Value: Operand{N: 64 << 10}},
		{Subject: "follower-1", Field: "keys", Op: OpEq, Value: Operand{Subject: "leader", Field: "keys"}},
		{Subject: "follower-2", Field: "replay", Op: OpGe, Value: Operand{N: 0x1A2B}},
		{Subject: "leader", Field: "commits", Op: OpGt, Rises: true, Within: 3 * time.Second},
		{Subject: "follower-1", Field: "replay", Steady: 2 * time.Second, Within: DefaultWithin + 2*time.Second},
	} {
		if want.Within == 0 {
			want.Within = DefaultWithin
		}
		if got := exp(i + 1); got != want {
			t.Errorf("%s: got %+v, want %+v", two[i+1].Source, got, want)
		}
	}
}

// TestParseHolds: held moments and points, and how a chapter splits into
// the steps a presenter moves through.
func TestParseHolds(t *testing.T) {
	sc := mustParse(t, `chapter "One"
corrupt 1
say "a"
slow 1/8 until follower-1 crc-failures rises within 5s
point follower-1 lane
after 1s freeze when 1 crc-failures >= 1
say "b"
slow 0.25
slow 1/2 when leader waiting-commits > 0
point leader waiting-commits
point 2 received
freeze
say "c"
point 1
point 2
point 3
chapter "Two"
write 1
`)
	one := sc.Chapters[0].Steps
	h := one[2].Hold
	if one[2].Kind != StepHold || h.Freeze || h.Speed != 0.125 || h.When != nil || h.Until == nil ||
		!h.Until.Rises || h.Until.Field != "crc-failures" || h.Until.Within != 5*time.Second {
		t.Errorf("slow until: %+v %+v", one[2], h)
	}
	if one[3].Kind != StepPoint || one[3].Point != (Point{"follower-1", "lane"}) {
		t.Errorf("point: %+v", one[3])
	}
	if h := one[4].Hold; !h.Freeze || h.When == nil || h.When.Op != OpGe || one[4].Timing != TimingAfter || h.String() != "world frozen" {
		t.Errorf("freeze when: %+v", one[4])
	}
	if h := one[6].Hold; h.Speed != 0.25 || h.When != nil || h.Until != nil || h.String() != "slow motion 1/4×" {
		t.Errorf("slow: %+v", h)
	}
	if h := one[7].Hold; h.When == nil || h.When.Subject != "leader" || h.String() != "slow motion 1/2×" {
		t.Errorf("slow when: %+v", h)
	}
	if one[9].Point != (Point{"follower-2", "write"}) || one[10].Kind != StepCommand || one[10].Command.Verb != cluster.VerbFreeze {
		t.Errorf("%+v %+v", one[9], one[10])
	}
	steps := sc.Chapters[0].Captions()
	if len(steps) != 3 || len(steps[0]) != 5 || steps[0][1].Text != "a" || steps[1][0].Text != "b" || len(steps[2]) != 4 {
		t.Errorf("captions: %d steps %+v", len(steps), steps)
	}
	if steps := sc.Chapters[1].Captions(); len(steps) != 1 || len(steps[0]) != 1 {
		t.Errorf("a chapter without captions is one step: %+v", steps)
	}
}

func TestParseNoTitle(t *testing.T) {
	sc, err := Parse("dir/lesson.scn", []byte("pause 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Title != "lesson" || len(sc.Chapters) != 0 || len(sc.Setup) != 1 {
		t.Errorf("got %+v", sc)
	}
	sc, err = Parse("empty.scn", nil)
	if err != nil || sc.Title != "empty" {
		t.Errorf("empty file: %v %+v", err, sc)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
		col  int
		msg  string // a piece of the message
	}{
		{"at 3x pause 1", 1, 4, "expected a duration like 300ms or 2s"},
		{"\n\nafter", 3, 6, "expected a duration"},
		{"at 2s", 1, 6, "expected a command, say or expect"},
		{"at -2s pause 1", 1, 4, "duration"},
		{"at 30000h pause 1", 1, 4, "at most"},
		{"wait", 1, 5, "duration"},
		{"wait 1s 2s", 1, 9, "end of the line"},
		{"title Unquoted", 1, 7, "quoted title"},
		{"title", 1, 6, "quoted title"},
		{`title "a" "b"`, 1, 11, "end of the line"},
		{"pause 1\ntitle \"late\"", 2, 1, "top of the file"},
		{`title "a"` + "\n" + `title "b"`, 2, 1, "only one title"},
		{`summary "a"` + "\n" + `summary "b"`, 2, 1, "only one summary"},
		{`chapter "open`, 1, 9, "closing quote"},
		{`chapter "a"b`, 1, 12, "space after the closing quote"},
		{"chapter", 1, 8, "chapter title"},
		{`say "bell` + "\x07" + `"`, 1, 5, "printable"},
		{"say \xff", 1, 5, "UTF-8"},
		{"say hello", 1, 5, "quoted caption"},
		{"at 1s chapter \"x\"", 1, 7, "cannot be timed"},
		{"after 1s wait 2s", 1, 10, "cannot be timed"},
		{"# setup\n  pause follower-x", 2, 9, "expected a follower"},
		{"at 3s latency 1 fast", 1, 17, "expected a duration like 300ms or 2s"},
		{"at 3s latency 1", 1, 16, "expected a duration"},
		{"fly me", 1, 1, "expected a command"},
		{"pause 1 2", 1, 9, "end of pause command"},
		{"expect", 1, 7, "what to expect"},
		{"expect nobody state cut", 1, 8, "expected a follower"},
		{"expect 1", 1, 9, "what to check"},
		{"expect 1 mood happy", 1, 10, "follower field"},
		{"expect 1 state", 1, 15, "expected a state"},
		{"expect 1 state sleepy", 1, 16, "not \"sleepy\""},
		{"expect 1 not state cut", 1, 14, "paused, connected or slot-lost"},
		{"expect 1 paused now", 1, 17, "end of the expectation"},
		{"expect 1 matches", 1, 17, "leader after matches"},
		{"expect 1 matches follower-2", 1, 18, "leader after matches"},
		{"expect 1 replay", 1, 16, "comparison"},
		{"expect 1 replay ~ flush", 1, 17, "comparison"},
		{"expect 1 replay <", 1, 18, "an LSN"},
		{"expect 1 replay < 12", 1, 19, "an LSN"},
		{"expect 1 replay < keys", 1, 19, "same kind"},
		{"expect 1 keys > lots", 1, 17, "a whole number"},
		{"expect 1 keys > -1", 1, 17, "a whole number"},
		{"expect 1 replay-lag < 2", 1, 23, "a duration"},
		{"expect 1 replay < flush extra", 1, 25, "end of the expectation"},
		{"expect 1 replay < flush within", 1, 31, "duration"},
		{"expect 1 replay < flush within soon", 1, 32, "duration"},
		{"expect 1 replay < follower-2", 1, 29, "a field of follower-2"},
		{"expect 1 replay < follower-2 keys", 1, 30, "same kind"},
		{"expect leader keys > leader", 1, 22, "another leader field"},
		{"expect leader mood > 1", 1, 15, "leader field"},
		{"expect waiting-commits > soon", 1, 26, "whole number"},
		{"expect 1 crc-failures >= leader", 1, 26, "leader has no crc-failures"},
		{"expect 1 replay = leader keys", 1, 26, "same kind"},
		{"expect leader retained > 64 lots", 1, 29, "end of the expectation"},
		{"expect all keys rises", 1, 17, "not all"},
		{"followers", 1, 10, "number of followers"},
		{"expect leader commits steady", 1, 29, "for DUR after steady"},
		{"expect leader commits steady 2s", 1, 30, "for DUR after steady"},
		{"expect leader commits steady for", 1, 33, "duration"},
		{"expect leader commits steady for 0", 1, 34, "above 0"},
		{"expect leader commits steady for 2s within 1s", 1, 34, "no longer than within 1s"},
		{"expect all replay steady for 1s", 1, 19, "not all"},
		{"followers 0", 1, 11, "number of followers"},
		{"followers 10", 1, 11, "1 to 9"},
		{"followers 3 please", 1, 13, "end of the line"},
		{"followers 3\nfollowers 3", 2, 1, "only one followers"},
		{"pause 1\nfollowers 3", 2, 1, "top of the file"},
		{"at 1s followers 3", 1, 7, "cannot be timed"},
		{"expect 1 replay rises now", 1, 23, "end of the expectation"},
		{"expect 1 paused rises", 1, 17, "end of the expectation"},
		{"slow", 1, 5, "speed below 1"},
		{"slow 2", 1, 6, "speed below 1"},
		{"slow 1/0", 1, 6, "speed below 1"},
		{"slow 1/128", 1, 6, "at least 1/64"},
		{"slow fast", 1, 6, "speed below 1"},
		{"slow NaN", 1, 6, "speed below 1"},
		{"slow inf/inf", 1, 6, "speed below 1"},
		{"slow 1/8 while 1 paused", 1, 10, "until or when"},
		{"slow 1/8 until", 1, 15, "what to expect"},
		{"slow 1/8 until 1 mood", 1, 18, "follower field"},
		{"slow 1/8 when 1 paused within", 1, 30, "duration"},
		{"freeze now", 1, 8, "expected when"},
		{"freeze when", 1, 12, "what to expect"},
		{"at 1s freeze when nobody paused", 1, 19, "expected a follower"},
		{"point", 1, 6, "what to point at"},
		{"point all", 1, 7, "a follower"},
		{"point 1 mood", 1, 9, "field of the follower"},
		{"point leader write", 1, 14, "field of the leader"},
		{"point 1 flush now", 1, 15, "end of the line"},
		{"say \"a\"\npoint 1\npoint 2\npoint 3\npoint leader", 5, 1, "at most 3"},
	} {
		_, err := Parse("t.scn", []byte(tc.src))
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: got %v, want a SyntaxError", tc.src, err)
			continue
		}
		if se.Line != tc.line || se.Column != tc.col || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("%q: got %v, want line %d column %d with %q", tc.src, err, tc.line, tc.col, tc.msg)
		}
		if prefix := fmt.Sprintf("t.scn:%d:%d: ", tc.line, tc.col); !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%q: %q does not start with %q", tc.src, err, prefix)
		}
	}
}

func TestBuiltinsParse(t *testing.T) {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(builtinOrder) {
		t.Errorf("%d files in builtin/, %d in builtinOrder", len(entries), len(builtinOrder))
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".scn")
		sc, err := Load(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if sc.Title == name || sc.Summary == "" || len(sc.Chapters) < 2 {
			t.Errorf("%s: wants a title, a summary and chapters: %q %q %d", name, sc.Title, sc.Summary, len(sc.Chapters))
		}
		expects := 0
		for _, ch := range sc.Chapters {
			for _, st := range ch.Steps {
				if st.Kind == StepExpect {
					expects++
				}
			}
		}
		if expects == 0 {
			t.Errorf("%s: no expect lines", name)
		}
	}
	infos := Builtins()
	for i, info := range infos {
		if info.Name != builtinOrder[i] || info.Title == "" || info.Summary == "" {
			t.Errorf("Builtins()[%d] = %+v", i, info)
		}
		// walship scenarios prints name and summary in 80 columns.
		if n := utf8.RuneCountInString(info.Summary); n > 64 {
			t.Errorf("%s: summary of %d characters, keep it to 64", info.Name, n)
		}
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("no-such-lesson"); err == nil || !strings.Contains(err.Error(), "basic") {
		t.Errorf("Load(no-such-lesson) = %v, want an error listing the built-ins", err)
	}
	path := t.TempDir() + "/mine.scn"
	if err := writeFile(path, "title \"Mine\"\nat 1s pause 1\nat 2x resume 1\n"); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3:4: expected a duration") {
		t.Errorf("Load(%s) = %v", path, err)
	}
}
