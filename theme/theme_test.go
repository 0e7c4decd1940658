package theme

import (
	"strings"
	"testing"
)

func TestByName(t *testing.T) {
	for _, n := range Names() {
		th, err := ByName(n)
		if err != nil {
			t.Fatalf("ByName(%q): %v", n, err)
		}
		if th.Name != n && !IsAuto(n) {
			t.Errorf("ByName(%q).Name = %q", n, th.Name)
		}
	}
	if th, err := ByName("HC"); err != nil || th.Name != "high-contrast" {
		t.Errorf("alias hc: %v %v", th.Name, err)
	}
	_, err := ByName("neon")
	if err == nil {
		t.Fatal("ByName(neon) succeeded")
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %q", err, n)
		}
	}
}

func TestMonoHasNoColour(t *testing.T) {
	st := NewStyles(Mono())
	for _, p := range []Paint{st.Text, st.Write, st.Flush, st.Replay, st.Data, st.Corrupt, st.Error, st.BadgeError, st.Selected} {
		s := p.Pre + p.Post
		// SGR colour parameters: 3x/4x/9x/10x, 38;/48;
		for _, bad := range []string{"38;", "48;", "[3", "[4", ";3", ";4", "[9", ";9"} {
			if strings.Contains(s, bad) {
				t.Errorf("mono paint %q contains a colour (%q)", s, bad)
			}
		}
	}
}

func TestPaintOf(t *testing.T) {
	st := NewStyles(Dark())
	if st.Error.Pre == "" || st.Error.Post == "" {
		t.Fatalf("dark error paint is empty: %+v", st.Error)
	}
	if got := st.Error.Render("x"); !strings.Contains(got, "x") {
		t.Fatalf("Render lost text: %q", got)
	}
	if got := (Paint{}).Render("x"); got != "x" {
		t.Fatalf("empty paint changed text: %q", got)
	}
}
