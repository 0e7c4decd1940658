package scenario

import (
	"embed"
	"fmt"
	"os"
	"strings"
)

//go:embed builtin/*.scn
var builtinFS embed.FS

// builtinOrder is the order of the lessons, simplest first. Every file in
// builtin/ is listed here (a test checks).
var builtinOrder = []string{
	"basic",
	"crc",
	"paused-replay",
	"cut-link",
	"base-backup",
	"sync-commit",
	"crash",
	"stale-reads",
	"failover",
	"lost-writes",
	// On PostgreSQL (backends pg): the same lessons, told with its views.
	"basic-pg",
	"paused-replay-pg",
	"sync-commit-pg",
	"base-backup-pg",
}

// Info describes a built-in scenario.
type Info struct {
	Name     string // what Load takes: basic, crc, ...
	Title    string
	Summary  string
	Backends Backend // what it was written for
}

// Builtins lists the built-in scenarios in lesson order.
func Builtins() []Info {
	infos := make([]Info, 0, len(builtinOrder))
	for _, name := range builtinOrder {
		sc, err := loadBuiltin(name)
		if err != nil {
			// The built-ins are tested to parse; this is a broken build.
			panic(err)
		}
		infos = append(infos, Info{Name: name, Title: sc.Title, Summary: sc.Summary, Backends: sc.Backends})
	}
	return infos
}

// Load returns a built-in scenario by name (see Builtins), or reads and
// parses the scenario file at a path. A name with a slash or a .scn ending
// is always a path.
func Load(nameOrPath string) (*Scenario, error) {
	if isBuiltinName(nameOrPath) {
		return loadBuiltin(nameOrPath)
	}
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".scn") {
		if _, err := os.Stat(nameOrPath); err != nil {
			return nil, fmt.Errorf("scenario: no built-in scenario or file named %q (built-ins: %s)",
				nameOrPath, strings.Join(builtinOrder, ", "))
		}
	}
	src, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(nameOrPath, src)
}

// isBuiltinName reports whether Load takes s as a built-in's name.
func isBuiltinName(s string) bool {
	if strings.ContainsAny(s, `/\`) || strings.HasSuffix(s, ".scn") {
		return false
	}
	_, err := builtinFS.Open("builtin/" + s + ".scn")
	return err == nil
}

func loadBuiltin(name string) (*Scenario, error) {
	src, err := builtinFS.ReadFile("builtin/" + name + ".scn")
	if err != nil {
		return nil, fmt.Errorf("scenario: no built-in scenario %q", name)
	}
	return Parse(name+".scn", src)
}
