package fatal

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGoRecovers(t *testing.T) {
	var wg sync.WaitGroup
	got := make(chan Panic, 1)
	g := Group{Owner: "follower-2", OnPanic: func(p Panic) { got <- p }, WG: &wg}
	g.Go("replayer", func() { panic("on purpose") })
	wg.Wait() // done although it panicked
	p := <-got
	if p.Where != "follower-2 replayer" || p.Value != "on purpose" || !strings.Contains(string(p.Stack), "fatal_test.go") {
		t.Fatalf("recovered %+v", p)
	}
	if p.Error() != "panic in follower-2 replayer: on purpose" {
		t.Error(p.Error())
	}
}

// Without a handler the panic goes on, as if it had never been caught.
func TestRecoverWithoutHandlerPanics(t *testing.T) {
	defer func() {
		if v := recover(); v != "on purpose" {
			t.Fatalf("recovered %v, want the panic raised again", v)
		}
	}()
	func() {
		defer Group{}.Recover("x")
		panic("on purpose")
	}()
}

// TestEveryEngineGoroutineIsGuarded: the engine starts no goroutine but
// through a Group, so none can end the process with a panic; the one
// exception is the cluster's stop after a panic, which is not a worker.
func TestEveryEngineGoroutineIsGuarded(t *testing.T) {
	allowed := map[string]bool{"onPanic": true}
	files, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../*/*/*.go")
	fset := token.NewFileSet()
	checked := 0
	for _, name := range append(files, more...) {
		if strings.HasSuffix(name, "_test.go") || strings.Contains(name, "/fatal/") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || allowed[fn.Name.Name] {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				if g, ok := n.(*ast.GoStmt); ok && !waitsForProcess(g) {
					t.Errorf("%s: a go statement in %s: start it with fatal.Group.Go", fset.Position(g.Pos()), fn.Name.Name)
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d files", checked)
	}
}

// waitsForProcess reports whether g only waits for a child process to
// exit (go func() { cmd.Wait(); close(done) }()): nothing there can panic.
func waitsForProcess(g *ast.GoStmt) bool {
	lit, ok := g.Call.Fun.(*ast.FuncLit)
	if !ok || len(lit.Body.List) != 2 {
		return false
	}
	call, ok := lit.Body.List[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	c, ok := call.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Wait"
}
