// Package fatal starts the engine's goroutines so that a panic in one of
// them is a fatal error of its owner rather than the end of the process:
// the panic is recovered, handed to the owner (the cluster records it,
// stops cleanly, and the UI quits through Bubble Tea, which puts the
// terminal back), and the goroutine ends as if it had returned.
//
// Without an owner's handler a panic is raised again, as if it had never
// been caught: the program ends, and the CLI's guard process restores the
// terminal.
package fatal

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Panic is a recovered panic: where it happened, its value, its stack.
type Panic struct {
	Where string // the owner and the goroutine, e.g. "follower-2 replayer"
	Value any
	Stack []byte
}

func (p Panic) Error() string { return fmt.Sprintf("panic in %s: %v", p.Where, p.Value) }

// Func takes a recovered panic. It is called on the goroutine that
// panicked, which ends after it returns, so it must not wait for that
// goroutine (nor for its owner's WaitGroup).
type Func func(Panic)

// Group starts an owner's goroutines. The zero value of OnPanic re-raises
// panics. WG, when set, counts the goroutines: each is done when it
// returns or panics.
type Group struct {
	Owner   string // named in Panic.Where
	OnPanic Func
	WG      *sync.WaitGroup
}

// Go runs f on a new goroutine named name.
func (g Group) Go(name string, f func()) {
	if g.WG != nil {
		g.WG.Add(1)
	}
	go func() {
		if g.WG != nil {
			defer g.WG.Done()
		}
		defer g.Recover(name)
		f()
	}()
}

// Recover, deferred at the top of a goroutine named name, hands a panic
// to OnPanic (or raises it again when there is none).
func (g Group) Recover(name string) {
	v := recover()
	if v == nil {
		return
	}
	if g.OnPanic == nil {
		panic(v)
	}
	where := name
	if g.Owner != "" {
		where = g.Owner + " " + name
	}
	g.OnPanic(Panic{Where: where, Value: v, Stack: debug.Stack()})
}
