package replica

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoIO keeps the decisions apart from I/O, checked from what the
// package is built from:
//
//   - net, os/exec and the like are nowhere in its dependencies (go list
//     -deps), standard library included;
//   - no walship package it depends on imports os, syscall, net or io/fs,
//     except engine/wal, whose files hold the record codec this package
//     uses; of wal it may use only the codec's names (allowedWAL);
//   - its own files import none of those, and never read the clock,
//     sleep or start a timer (time is passed in).
//
// fmt itself imports os, so os is in any list of dependencies; what
// matters is that nothing here reaches it.
func TestNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \",\"}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := map[string]bool{"os": true, "syscall": true, "net": true, "io/fs": true, "os/exec": true, "os/signal": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		switch {
		case pkg == "net" || strings.HasPrefix(pkg, "net/") || pkg == "os/exec" || pkg == "os/signal":
			t.Errorf("%s is among the dependencies", pkg)
		case !strings.HasPrefix(pkg, "walship/") || pkg == "walship/engine/wal":
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			if forbidden[imp] {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}

	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); forbidden[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch {
			case pkg.Name == "time" && clockCalls[sel.Sel.Name]:
				t.Errorf("%s: time.%s: time is passed in, never read", fset.Position(sel.Pos()), sel.Sel.Name)
			case pkg.Name == "wal" && !allowedWAL[sel.Sel.Name]:
				t.Errorf("%s: wal.%s is not part of the record codec", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

var clockCalls = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTimer": true, "NewTicker": true,
}

// allowedWAL are the names of engine/wal this package may use: the LSN
// and the record codec, which read and write nothing.
var allowedWAL = map[string]bool{
	"LSN": true, "ParseLSN": true, "Record": true, "DecodeRecord": true, "RecordLSN": true, "Place": true, "PeekSize": true, "HeaderSize": true,
}
