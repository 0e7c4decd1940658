package scenario

import (
	"errors"
	"strings"
	"testing"

	"walship/engine/cluster"
)

// FuzzParse feeds Parse arbitrary text. It must never panic; a failure must
// be a SyntaxError placed on a real line and column; a scenario that parses
// must hold only steps the runner can take, whose expectations can be
// checked against any snapshot. The seed corpus is in testdata/fuzz and the
// built-in lessons.
func FuzzParse(f *testing.F) {
	for _, name := range builtinOrder {
		src, err := builtinFS.ReadFile("builtin/" + name + ".scn")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(goodFile))
	f.Fuzz(func(t *testing.T, src []byte) {
		sc, err := Parse("f.scn", src)
		lines := strings.Split(string(src), "\n")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("not a SyntaxError: %v", err)
			}
			if se.Line < 1 || se.Line > len(lines) {
				t.Fatalf("%v: line %d of %d", err, se.Line, len(lines))
			}
			line := strings.TrimSuffix(lines[se.Line-1], "\r")
			if se.Column < 1 || se.Column > len(line)+1 {
				t.Fatalf("%v: column %d of a %d-byte line", err, se.Column, len(line))
			}
			return
		}
		if !printable(sc.Title) || !printable(sc.Summary) {
			t.Fatalf("unprintable title or summary %q %q", sc.Title, sc.Summary)
		}
		steps := sc.Setup
		for _, ch := range sc.Chapters {
			if !printable(ch.Title) {
				t.Fatalf("unprintable chapter title %q", ch.Title)
			}
			steps = append(steps, ch.Steps...)
		}
		snaps := []cluster.Snapshot{{}, {
			Followers: []cluster.FollowerStatus{{Name: "follower-1"}, {Name: "follower-2"}},
			Reads:     []cluster.ReadResult{{Seq: 1, Node: "follower-1", Key: "k", Found: true, Stale: true}},
		}}
		for _, st := range steps {
			if st.Line < 1 || st.Line > len(lines) || st.Delay < 0 || st.Delay > MaxDelay {
				t.Fatalf("step %+v", st)
			}
			switch st.Kind {
			case StepSay:
				if !printable(st.Text) {
					t.Fatalf("unprintable caption %q", st.Text)
				}
			case StepExpect:
				if st.Expect == nil || st.Expect.Within < 0 {
					t.Fatalf("expect %+v", st.Expect)
				}
				for i := range snaps {
					st.Expect.Check(&snaps[i])
				}
			case StepHold:
				h := st.Hold
				if h == nil || !h.Freeze && !(h.Speed >= 1.0/64 && h.Speed < 1) || h.Freeze && (h.When == nil || h.Until != nil) {
					t.Fatalf("hold %+v", h)
				}
				for _, e := range []*Expect{h.When, h.Until} {
					for i := range snaps {
						if e != nil {
							e.Check(&snaps[i])
						}
					}
				}
			case StepPoint:
				if _, ok := subjectName(st.Point.Subject); (!ok || st.Point.Subject == "all") && st.Point != (Point{Subject: "reads"}) {
					t.Fatalf("point %+v", st.Point)
				}
			case StepCommand:
				if _, err := cluster.ParseCommand(st.Command.String()); err != nil {
					t.Fatalf("%q parsed, but its canonical form %q does not: %v", st.Source, st.Command, err)
				}
			}
		}
	})
}
