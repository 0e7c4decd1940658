//go:build !unix

package bench

import "time"

// syncFS does nothing where there is no sync(2): bench phases may then pay
// for each other's writeback.
func syncFS() {}

// processCPU is 0 where there is no getrusage(2): the bench then reports
// no CPU figures.
func processCPU() time.Duration { return 0 }
