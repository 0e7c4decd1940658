package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// The value codec: every value is an unsigned varint (unsigned integers,
// booleans as 0/1, floats as their IEEE bits byte-reversed so that round
// numbers are short, as encoding/gob does), a zigzag varint (signed
// integers, durations in nanoseconds) or a string (a varint length, then
// its bytes).

// maxString bounds one string value; a longer length is damage.
const maxString = 64 << 10

// errShort is a record body that ends inside a value.
var errShort = errors.New("ends inside a value")

type enc struct{ b []byte }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) float(f float64) {
	e.uint(bits.ReverseBytes64(math.Float64bits(f)))
}
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *enc) str(s string) {
	if len(s) > maxString {
		s = s[:maxString]
	}
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// dec reads values from a record body. The first error sticks: every
// later read returns a zero value, so a decoder checks err once at the
// end.
type dec struct {
	b   []byte
	off int // bytes read, for error messages
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d of the record: %w", d.off, err)
	}
	d.b = nil
}

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *dec) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *dec) float() float64 { return math.Float64frombits(bits.ReverseBytes64(d.uint())) }

func (d *dec) bool() bool {
	switch d.uint() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errors.New("a boolean that is neither 0 nor 1"))
	return false
}

func (d *dec) str() string {
	n := d.uint()
	if d.err != nil {
		return ""
	}
	if n > maxString || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("a string of %d bytes with %d left", n, len(d.b)))
		return ""
	}
	s := string(d.b[:n])
	d.b, d.off = d.b[n:], d.off+int(n)
	return s
}

// count reads a count of items each at least one byte long: more than
// there are bytes left, or more than limit, is damage.
func (d *dec) count(limit int, what string) int {
	n := d.uint()
	if d.err == nil && (n > uint64(len(d.b)) || n > uint64(limit)) {
		d.fail(fmt.Errorf("%d %s (at most %d)", n, what, limit))
		return 0
	}
	return int(n)
}

func (d *dec) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail(errShort)
		return nil
	}
	b := d.b[:n]
	d.b, d.off = d.b[n:], d.off+n
	return b
}

// field is one field of a struct T in a frozen field list: how to compare
// it between two values, and how to write and read it.
type field[T any] struct {
	since uint16 // the format version it was added in; 0 counts as 1
	eq    func(a, b *T) bool
	put   func(e *enc, v *T)
	get   func(d *dec, v *T)
}

// The field constructors, one per value kind. Each takes the address of
// the field in a T.

func uintF[T any, X ~uint64 | ~uint32 | ~uint](at func(*T) *X) field[T] {
	return field[T]{
		eq:  func(a, b *T) bool { return *at(a) == *at(b) },
		put: func(e *enc, v *T) { e.uint(uint64(*at(v))) },
		get: func(d *dec, v *T) { *at(v) = X(d.uint()) },
	}
}

func intF[T any, X ~int64 | ~int](at func(*T) *X) field[T] {
	return field[T]{
		eq:  func(a, b *T) bool { return *at(a) == *at(b) },
		put: func(e *enc, v *T) { e.int(int64(*at(v))) },
		get: func(d *dec, v *T) { *at(v) = X(d.int()) },
	}
}

func floatF[T any](at func(*T) *float64) field[T] {
	return field[T]{
		// Bits, not ==: NaN is a value like any other here.
		eq:  func(a, b *T) bool { return math.Float64bits(*at(a)) == math.Float64bits(*at(b)) },
		put: func(e *enc, v *T) { e.float(*at(v)) },
		get: func(d *dec, v *T) { *at(v) = d.float() },
	}
}

func boolF[T any](at func(*T) *bool) field[T] {
	return field[T]{
		eq:  func(a, b *T) bool { return *at(a) == *at(b) },
		put: func(e *enc, v *T) { e.bool(*at(v)) },
		get: func(d *dec, v *T) { *at(v) = d.bool() },
	}
}

func strF[T any, X ~string](at func(*T) *X) field[T] {
	return field[T]{
		eq:  func(a, b *T) bool { return *at(a) == *at(b) },
		put: func(e *enc, v *T) { e.str(string(*at(v))) },
		get: func(d *dec, v *T) { *at(v) = X(d.str()) },
	}
}

// putDelta writes cur against prev: a bit mask of the fields that differ
// (one bit per field, lowest bit of the first byte for the first field),
// then those fields' values in order.
func putDelta[T any](e *enc, fs []field[T], prev, cur *T) {
	at := len(e.b)
	e.b = append(e.b, make([]byte, (len(fs)+7)/8)...)
	for i := range fs {
		if !fs[i].eq(prev, cur) {
			e.b[at+i/8] |= 1 << (i % 8)
			fs[i].put(e, cur)
		}
	}
}

// getDelta reads a value written by putDelta against prev.
func getDelta[T any](d *dec, fs []field[T], prev *T) T {
	cur := *prev
	mask := d.bytes((len(fs) + 7) / 8)
	for i := range fs {
		if d.err != nil {
			break
		}
		if mask[i/8]&(1<<(i%8)) != 0 {
			fs[i].get(d, &cur)
		}
	}
	if len(fs)%8 != 0 && d.err == nil && mask[len(mask)-1]>>(len(fs)%8) != 0 {
		d.fail(errors.New("a field mask naming fields that do not exist"))
	}
	return cur
}
