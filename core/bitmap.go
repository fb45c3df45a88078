package core

import "math/bits"

// Bitmap is a set of buckets (SafeKit's 256-bit filter).
type Bitmap [Buckets / 64]uint64

// Has reports whether bucket b is in the set.
func (m *Bitmap) Has(b int) bool { return m[b>>6]&(1<<(uint(b)&63)) != 0 }

// Set adds bucket b.
func (m *Bitmap) Set(b int) { m[b>>6] |= 1 << (uint(b) & 63) }

// Clear removes bucket b.
func (m *Bitmap) Clear(b int) { m[b>>6] &^= 1 << (uint(b) & 63) }

// Count is the number of buckets in the set.
func (m *Bitmap) Count() int {
	n := 0
	for _, w := range m {
		n += bits.OnesCount64(w)
	}
	return n
}

// Empty reports whether no bucket is set.
func (m *Bitmap) Empty() bool { return m[0]|m[1]|m[2]|m[3] == 0 }

// List returns the buckets in ascending order.
func (m *Bitmap) List() []int {
	out := make([]int, 0, m.Count())
	for i, w := range m {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			out = append(out, i*64+t)
			w &= w - 1
		}
	}
	return out
}
