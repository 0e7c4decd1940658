package ship

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// # The slots file (frozen format)
//
// The leader's replication slots outlive a restart, as PostgreSQL's do
// (pg_replslot/): the leader's directory holds them in SlotsFile, written
// like a checkpoint (write, fsync, rename, fsync the directory) at each
// checkpoint whose slots differ from the file's, and always before any
// WAL is removed, so a restarted leader never finds a slot pointing into
// WAL it removed while the slot still needed it. Big-endian:
//
//	offset  size  field
//	0       4     magic "WSSL"
//	4       1     format version (1)
//	5       1     slots on (1) or off (0)
//	6       2     number of slots, n
//	8       ...   n slots, by name, each:
//	                1  name length (1..wire.MaxNameLen)
//	                k  name
//	                8  restart LSN
//	                1  lost (1) or live (0)
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// These values are part of the on-disk format: don't change them.
const SlotsFile = "slots"

const (
	slotsMagic   = "WSSL"
	slotsVersion = 1
)

// encodeSlots is the slots file's content for these slots.
func encodeSlots(on bool, slots []replica.SlotRecord) []byte {
	b := append([]byte(slotsMagic), slotsVersion, boolByte(on))
	b = binary.BigEndian.AppendUint16(b, uint16(len(slots)))
	for _, s := range slots {
		b = append(b, byte(len(s.Name)))
		b = append(b, s.Name...)
		b = binary.BigEndian.AppendUint64(b, uint64(s.Restart))
		b = append(b, boolByte(s.Lost))
	}
	return binary.BigEndian.AppendUint32(b, wal.Checksum(b))
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// decodeSlots reads a slots file's content; anything wrong in it is
// damage, reported, never repaired.
func decodeSlots(b []byte) (bool, []replica.SlotRecord, error) {
	if len(b) < 12 || string(b[:4]) != slotsMagic {
		return false, nil, fmt.Errorf("%w: not a slots file (%d bytes)", wal.ErrCorrupt, len(b))
	}
	body := b[:len(b)-4]
	if wal.Checksum(body) != binary.BigEndian.Uint32(b[len(body):]) {
		return false, nil, fmt.Errorf("%w: checksum mismatch", wal.ErrCorrupt)
	}
	if body[4] != slotsVersion {
		return false, nil, fmt.Errorf("%w: format version %d; this walship reads version %d", wal.ErrCorrupt, body[4], slotsVersion)
	}
	on := body[5] != 0
	n := int(binary.BigEndian.Uint16(body[6:8]))
	p := body[8:]
	slots := make([]replica.SlotRecord, 0, min(n, len(p)/10))
	for range n {
		if len(p) < 1 || len(p) < 1+int(p[0])+9 {
			return false, nil, fmt.Errorf("%w: slot %d of %d is cut short", wal.ErrCorrupt, len(slots)+1, n)
		}
		k := int(p[0])
		s := replica.SlotRecord{Name: string(p[1 : 1+k]), Restart: wal.LSN(binary.BigEndian.Uint64(p[1+k : 9+k])), Lost: p[9+k] != 0}
		if k == 0 || k > wire.MaxNameLen || !replica.ValidName(s.Name) {
			return false, nil, fmt.Errorf("%w: slot %d has a bad name %q", wal.ErrCorrupt, len(slots)+1, s.Name)
		}
		slots = append(slots, s)
		p = p[10+k:]
	}
	if len(p) != 0 {
		return false, nil, fmt.Errorf("%w: %d bytes after the last slot", wal.ErrCorrupt, len(p))
	}
	return on, slots, nil
}

// loadSlots reads the leader's slots file in dir; none is no slots.
func loadSlots(dir string) (bool, []replica.SlotRecord, error) {
	path := filepath.Join(dir, SlotsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	on, slots, err := decodeSlots(b)
	if err != nil {
		return false, nil, fmt.Errorf("%s: %w", path, err)
	}
	return on, slots, nil
}

// saveSlots writes the leader's slots to its slots file when they differ
// from what it holds. ckptMu is held.
func (l *Leader) saveSlots(on bool, slots []replica.SlotRecord) error {
	b := encodeSlots(on, slots)
	if bytes.Equal(b, l.slotsSaved) {
		return nil
	}
	if err := wal.WriteFileDurably(filepath.Join(l.cfg.Dir, SlotsFile), l.cfg.NoSync, b); err != nil {
		return fmt.Errorf("ship: saving %s: %w", SlotsFile, err)
	}
	l.slotsSaved = b
	return nil
}
