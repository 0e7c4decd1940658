package scenario

import (
	"fmt"
	"strings"
)

// Backend is what a lesson plays on: walship's own engine, or a real
// PostgreSQL cluster (walship pg demo, walship check --pg). A scenario
// says which it was written for with a backends line; without one it is
// the engine's alone.
type Backend uint8

// The backends, as a set: a lesson may be written for both.
const (
	BackendEngine Backend = 1 << iota // walship's own engine, in this process
	BackendPG                         // a real PostgreSQL primary and its standbys (engine/pg)
)

// backends are the backends by the names a backends line uses.
var backends = []struct {
	b     Backend
	name  string
	words string // for a person
}{
	{BackendEngine, "engine", "walship's own engine"},
	{BackendPG, "pg", "PostgreSQL"},
}

// String is the set as a backends line writes it: "engine", "engine pg".
func (b Backend) String() string { return b.join(func(i int) string { return backends[i].name }, " ") }

// Words is the set for a person: "walship's own engine", "PostgreSQL".
func (b Backend) Words() string {
	return b.join(func(i int) string { return backends[i].words }, " and ")
}

func (b Backend) join(name func(int) string, sep string) string {
	var parts []string
	for i, x := range backends {
		if b&x.b != 0 {
			parts = append(parts, name(i))
		}
	}
	return strings.Join(parts, sep)
}

func parseBackend(s string) (Backend, bool) {
	for _, x := range backends {
		if x.name == s {
			return x.b, true
		}
	}
	return 0, false
}

// Runs reports whether the scenario was written for backend b.
func (sc *Scenario) Runs(b Backend) bool { return sc.Backends&b != 0 }

// WithBackend says what the controller is: BackendEngine (the default)
// or BackendPG. A scenario not written for it is refused. On PostgreSQL
// the servers run in real time, which nothing can slow or freeze: a held
// moment waits for its conditions (they are checked as expect lines are)
// and holds nothing, and WithSpeed other than 1 is refused.
func WithBackend(b Backend) Option {
	return func(o *options) {
		if b != 0 {
			o.backend = b
		}
	}
}

// BuiltinsFor lists the built-in scenarios written for backend b.
func BuiltinsFor(b Backend) []Info {
	var out []Info
	for _, info := range Builtins() {
		if info.Backends&b != 0 {
			out = append(out, info)
		}
	}
	return out
}

// LoadFor is Load for a scenario to play on backend b. A built-in name
// whose lesson is not written for b plays the built-in variant for b
// when there is one, named NAME-BACKEND: on PostgreSQL, basic is
// basic-pg. A scenario not written for b is refused, naming the lessons
// that are.
func LoadFor(nameOrPath string, b Backend) (*Scenario, error) {
	sc, err := Load(nameOrPath)
	if err != nil {
		return nil, err
	}
	if sc.Runs(b) {
		return sc, nil
	}
	if isBuiltinName(nameOrPath) {
		if v, err := loadBuiltin(nameOrPath + "-" + b.String()); err == nil && v.Runs(b) {
			return v, nil
		}
	}
	var names []string
	for _, info := range BuiltinsFor(b) {
		names = append(names, info.Name)
	}
	return nil, fmt.Errorf("scenario: %s is written for %s, not for %s (a backends line says what a scenario is for); the built-in lessons for %s: %s",
		sc.File, sc.Backends.Words(), b.Words(), b.Words(), strings.Join(names, ", "))
}
