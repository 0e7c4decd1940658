package link

import "testing"

// TestBufClasses checks the frame buffer classes: every size fits, a
// buffer wastes at most a quarter above 4 KiB, each pool holds one size, and
// a buffer's capacity maps back to its own pool.
func TestBufClasses(t *testing.T) {
	sizes := map[int]int{}
	for n := 1; n <= 1<<20+5; n++ {
		idx, size := class(n)
		if size < n || idx < 0 || idx >= len(pools) {
			t.Fatalf("class(%d) = %d, %d", n, idx, size)
		}
		if n > 4096 && size-n > n/4 {
			t.Fatalf("class(%d): %d bytes wastes more than a quarter", n, size)
		}
		if s, ok := sizes[idx]; ok && s != size {
			t.Fatalf("pool %d holds sizes %d and %d", idx, s, size)
		}
		sizes[idx] = size
		if i2, s2 := class(size); i2 != idx || s2 != size {
			t.Fatalf("capacity %d maps to pool %d, not %d", size, i2, idx)
		}
	}
	b := getBuf(256<<10 + 200)
	if cap(*b) > 320<<10 {
		t.Fatalf("a frame just over 256 KiB got a %d-byte buffer", cap(*b))
	}
	putBuf(b)
}
