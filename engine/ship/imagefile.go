package ship

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"walship/engine/kv"
	"walship/engine/wal"
)

// An image file holds a store consistent at an LSN (frozen format): a
// follower's last base backup (BaseBackupFile), or the leader's last
// checkpoint (CheckpointFile).
//
//	magic "WSBB" | LSN u64 | store image (engine/kv format) | CRC-32C u32
//
// of everything before the CRC. LSN is where the log continues.
var imageFileMagic = [4]byte{'W', 'S', 'B', 'B'}

func saveImageFile(path string, data []byte, lsn wal.LSN, noSync bool) error {
	// Header and trailer around data, which is not copied: a checkpoint of
	// a large store is large.
	head := binary.BigEndian.AppendUint64(imageFileMagic[:], uint64(lsn))
	sum := crc32.Update(wal.Checksum(head), crcTable, data)
	trailer := binary.BigEndian.AppendUint32(nil, sum)
	if err := wal.WriteFileDurably(path, noSync, head, data, trailer); err != nil {
		return fmt.Errorf("ship: saving %s: %w", filepath.Base(path), err)
	}
	return nil
}

// crcTable is CRC-32C's, the table wal.Checksum uses.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// LoadImageFile reads an image file (a base backup or a checkpoint);
// (nil, 0, nil) when there is none.
func LoadImageFile(path string) (*kv.Store, wal.LSN, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 16 || [4]byte(b[:4]) != imageFileMagic {
		return nil, 0, fmt.Errorf("ship: %s is not a walship store image", path)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if wal.Checksum(body) != sum {
		return nil, 0, fmt.Errorf("ship: %s: checksum mismatch (a damaged store image)", path)
	}
	lsn := wal.LSN(binary.BigEndian.Uint64(b[4:12]))
	store, _, err := kv.Restore(body[12:])
	if err != nil {
		return nil, 0, fmt.Errorf("ship: %s: %w", path, err)
	}
	return store, lsn, nil
}
