package ship

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// A node's directory holds the history of the timeline it is on in
// HistoryFile (replica.History's format, as PostgreSQL's
// 0000000N.history); a node without one is on timeline 1.
const HistoryFile = "timeline.history"

// LoadHistory reads the timeline history in dir (nil: timeline 1). A
// damaged history stops the node, naming the file: which WAL it may
// follow depends on it.
func LoadHistory(dir string) (replica.History, error) {
	path := filepath.Join(dir, HistoryFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := replica.ParseHistory(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// SaveHistory makes h the history in dir, durably.
func SaveHistory(dir string, h replica.History, noSync bool) error {
	if err := wal.WriteFileDurably(filepath.Join(dir, HistoryFile), noSync, h.Format()); err != nil {
		return fmt.Errorf("ship: saving %s: %w", HistoryFile, err)
	}
	return nil
}

// wireHistory is h as a Welcome carries it.
func wireHistory(h replica.History) []wire.Switch {
	out := make([]wire.Switch, len(h))
	for i, s := range h {
		out[i] = wire.Switch{Timeline: s.Timeline, Fork: s.ForkLSN, Reason: s.Reason}
	}
	return out
}
