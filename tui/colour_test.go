package tui

import (
	"slices"
	"testing"
)

// A theme named by the user is drawn in colour under NO_COLOR (Bubble Tea
// would otherwise drop every colour, whatever the styles say); auto and
// mono leave NO_COLOR to do its work.
func TestColourEnvironUnderNoColor(t *testing.T) {
	environ := []string{"TERM=xterm-256color", "NO_COLOR=1", "HOME=/root"}
	for _, name := range []string{"dark", "light", "high-contrast", "hc"} {
		env, changed := colourEnviron(name, environ)
		if !changed || slices.Contains(env, "NO_COLOR=1") || !slices.Equal(env, []string{"TERM=xterm-256color", "HOME=/root"}) {
			t.Errorf("--theme %s: %q (changed %v): NO_COLOR should be left out, the rest kept", name, env, changed)
		}
	}
	for _, name := range []string{"", "auto", "mono", "none", "no-such-theme"} {
		if env, changed := colourEnviron(name, environ); changed || !slices.Equal(env, environ) {
			t.Errorf("--theme %q: %q (changed %v): the environment should be as it was", name, env, changed)
		}
	}
	plain := []string{"TERM=xterm-256color"}
	if env, changed := colourEnviron("light", plain); changed || !slices.Equal(env, plain) {
		t.Errorf("without NO_COLOR: %q (changed %v)", env, changed)
	}
}
