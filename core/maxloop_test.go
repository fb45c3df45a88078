package core

import (
	"testing"
	"time"
)

func TestMaxLoopWindow(t *testing.T) {
	l := maxLoop{max: 3, windowTicks: 100}
	steps := []struct {
		now  int64
		want bool
	}{
		{0, true}, {10, true}, {20, true},
		{30, false}, // the fourth within 100 ticks
		{99, false},
		{100, true},  // the one at 0 left the window
		{105, false}, // 10, 20, 100 are in it
		{120, true},  // 10 and 20 left
	}
	for _, s := range steps {
		if got := l.allow(s.now); got != s.want {
			t.Fatalf("allow(%d) = %v, want %v", s.now, got, s.want)
		}
	}
	l.reset()
	if !l.allow(121) {
		t.Fatal("reset did not clear the count")
	}
	if z := (maxLoop{max: 0, windowTicks: 10}); z.allow(0) {
		t.Fatal("maxloop 0 allowed an action")
	}
}

func TestDurationTicks(t *testing.T) {
	tests := []struct {
		d      time.Duration
		tickMs int
		want   int64
	}{
		{5 * time.Second, 10, 500},
		{15 * time.Second, 100, 150},
		{101 * time.Millisecond, 100, 2}, // rounded up
		{time.Millisecond, 10, 1},
		{0, 10, 1}, // never below one tick
		{-time.Second, 10, 1},
		{24 * time.Hour, 10, 8_640_000},
	}
	for _, tc := range tests {
		if got := durationTicks(tc.d, tc.tickMs); got != tc.want {
			t.Errorf("durationTicks(%v, %d) = %d, want %d", tc.d, tc.tickMs, got, tc.want)
		}
	}
}
