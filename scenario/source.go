package scenario

import (
	"fmt"
	"slices"
	"strings"
)

// BuiltinSource returns a built-in scenario's file as written, for
// walship scenarios show NAME: a lesson to read, or to copy and change.
func BuiltinSource(name string) ([]byte, error) {
	if !slices.Contains(builtinOrder, name) {
		return nil, fmt.Errorf("scenario: no built-in scenario %q (built-ins: %s)", name, strings.Join(builtinOrder, ", "))
	}
	return builtinFS.ReadFile("builtin/" + name + ".scn")
}
