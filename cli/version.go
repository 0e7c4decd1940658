package cli

import (
	"runtime/debug"
	"strings"
)

// versionOf is the version walship reports. set wins when the build set
// one (go build -ldflags "-X main.version=v1.2.3"). Otherwise it is what
// the Go toolchain recorded about the build: the module's version (a tag
// or a pseudo-version after go install walship@VERSION, or a build in a
// git checkout), the commit the build came from, and whether the tree had
// changes then.
func versionOf(set string, info *debug.BuildInfo, ok bool) string {
	if set != "" {
		return set
	}
	if !ok || info == nil {
		return "unknown (no build information)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	switch short := revision[:min(12, len(revision))]; {
	case revision != "" && !strings.Contains(v, short):
		v += " " + short
	case revision == "" && v == "devel":
		v += " (built without VCS information)"
	}
	if modified && !strings.HasSuffix(v, "+dirty") {
		v += " (modified)"
	}
	return v
}
