//go:build race

package wal

// raceEnabled: the race detector makes some operations allocate.
const raceEnabled = true
