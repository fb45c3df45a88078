package sim

// rng is a SplitMix64 generator: tiny, fast, and defined here so that no
// change in the standard library's generators can alter a recorded run.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n <= 0 gives 0.
func (r *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.next() % uint64(n))
}

// int63n is intn for int64 bounds.
func (r *rng) int63n(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return int64(r.next() % uint64(n))
}

// float returns a value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// chance reports true with probability p (0..1).
func (r *rng) chance(p float64) bool { return p > 0 && (p >= 1 || r.float() < p) }

// subSeed derives a component's seed from the root seed and the component's
// name, so that every component owns an independent stream.
func subSeed(root uint64, name string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a over the name
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	r := rng{s: root ^ h}
	return r.next()
}
