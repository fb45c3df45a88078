package core

import "math/bits"

// This file is the pure heart of the bucket protocol: from the current owner
// of every bucket and the set of members, compute the table the leader
// publishes. Balance (INV-3) needs each member within ±1 of its power share;
// minimal movement (INV-4) needs the *current* table as input, so the
// function moves as few buckets as the balance allows and never recomputes
// from scratch. Everything is decided by node index, never by map order.

// nodeSet is a set of node indices (bit i = node i); MaxNodes is 64.
type nodeSet = uint64

func has(s nodeSet, i int) bool { return s&(1<<uint(i)) != 0 }

// quotas computes, for each member of one group, the allowed bucket range
// [lo, hi] around its exact share 256·power/Σpower (hi = lo+1 when the share
// is fractional). Powers below zero count as zero; when all members have
// power zero they share equally, so a farm of power-0 nodes still serves.
func quotas(members nodeSet, power []int, lo, hi *[MaxNodes]int) {
	total, n := 0, bits.OnesCount64(members)
	for s := members; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		if i < len(power) && power[i] > 0 {
			total += power[i]
		}
	}
	for s := members; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		p, t := 0, total
		if i < len(power) && power[i] > 0 {
			p = power[i]
		}
		if total == 0 {
			p, t = 1, n
		}
		num := Buckets * p
		lo[i] = num / t
		hi[i] = lo[i]
		if num%t != 0 {
			hi[i]++
		}
	}
}

// validTarget reports whether owners already is a balanced table for
// members: every bucket owned by a member and every member within its range.
// A leader keeps such a table instead of recomputing one, so that changes in
// flight (buckets released but not yet acquired) never change the plan.
func validTarget(owners *[Buckets]uint8, members nodeSet, power []int) bool {
	if members == 0 {
		return false
	}
	var lo, hi [MaxNodes]int
	quotas(members, power, &lo, &hi)
	var cnt [MaxNodes]int
	for _, o := range owners {
		if o == NoOwner || int(o) >= MaxNodes || !has(members, int(o)) {
			return false
		}
		cnt[o]++
	}
	for s := members; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		if cnt[i] < lo[i] || cnt[i] > hi[i] {
			return false
		}
	}
	return true
}

// assignOwners computes the target owner table out from base, the current
// owner of each bucket (NoOwner or a non-member = free), for members with the
// given powers (indexed by node).
//
//  1. target_i = clamp(current_i, lo_i, hi_i);
//  2. fix the sum to 256 one step at a time: raise first a node that is
//     already acquiring (below its floor), then one that would otherwise not
//     move, lowest index first; lower first a node that is acquiring, then one
//     already giving up buckets, then one that would not move, highest index
//     first — so a join moves buckets only to the joiner and a leave only the
//     leaver's buckets, whenever the balance allows it;
//  3. a node above its target gives up its highest-numbered buckets;
//  4. free buckets, in ascending order, fill the nodes below their target in
//     ascending node order.
//
// With no member every bucket is NoOwner.
func assignOwners(base *[Buckets]uint8, members nodeSet, power []int, out *[Buckets]uint8) {
	if members == 0 {
		for b := range out {
			out[b] = NoOwner
		}
		return
	}
	var cur, lo, hi, tgt [MaxNodes]int
	for b, o := range base {
		if o != NoOwner && int(o) < MaxNodes && has(members, int(o)) {
			cur[o]++
			out[b] = o
		} else {
			out[b] = NoOwner
		}
	}
	quotas(members, power, &lo, &hi)
	sum := 0
	for s := members; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		tgt[i] = min(max(cur[i], lo[i]), hi[i])
		sum += tgt[i]
	}
	for sum < Buckets {
		best, bestClass := -1, 3
		for s := members; s != 0; s &= s - 1 {
			i := bits.TrailingZeros64(s)
			if tgt[i] >= hi[i] {
				continue
			}
			c := 1 // would acquire one bucket it would otherwise keep as is
			if cur[i] < tgt[i] {
				c = 0 // already acquiring: one more changes no other node's plan
			}
			if c < bestClass {
				best, bestClass = i, c
			}
		}
		tgt[best]++
		sum++
	}
	for sum > Buckets {
		best, bestClass := -1, 3
		for s := members; s != 0; s &= s - 1 {
			i := bits.TrailingZeros64(s)
			if tgt[i] <= lo[i] {
				continue
			}
			c := 2 // would give up a bucket it would otherwise keep
			switch {
			case cur[i] < tgt[i]:
				c = 0 // acquires one bucket less: saves a move
			case cur[i] > tgt[i]:
				c = 1 // already giving up buckets
			}
			if c <= bestClass { // ties: the highest index wins
				best, bestClass = i, c
			}
		}
		tgt[best]--
		sum--
	}
	// Surplus: highest-numbered buckets first, so the low buckets of a node
	// stay put across changes.
	for b := Buckets - 1; b >= 0; b-- {
		o := out[b]
		if o != NoOwner && cur[o] > tgt[o] {
			out[b] = NoOwner
			cur[o]--
		}
	}
	next := members
	for b := range out {
		if out[b] != NoOwner {
			continue
		}
		for next != 0 {
			i := bits.TrailingZeros64(next)
			if cur[i] < tgt[i] {
				out[b] = uint8(i)
				cur[i]++
				break
			}
			next &= next - 1
		}
	}
}
