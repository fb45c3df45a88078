package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		bare time.Duration
		want time.Duration
		ok   bool
	}{
		{"100ms", time.Second, 100 * time.Millisecond, true},
		{"5s", time.Millisecond, 5 * time.Second, true},
		{"24h", time.Second, 24 * time.Hour, true},
		{"10m", time.Second, 10 * time.Minute, true},
		{"1d", time.Second, 24 * time.Hour, true},
		{"1.5s", time.Second, 1500 * time.Millisecond, true},
		{"0.25h", time.Second, 15 * time.Minute, true},
		{" 30 ", time.Second, 30 * time.Second, true},           // surrounding blanks: XML often has them
		{"100", time.Millisecond, 100 * time.Millisecond, true}, // pulse: bare ms
		{"300", time.Second, 300 * time.Second, true},           // timeouts: bare s
		{"24", time.Hour, 24 * time.Hour, true},                 // loop_interval: bare h
		{"0", time.Second, 0, true},
		{"", time.Second, 0, false},
		{"s", time.Second, 0, false},
		{"-5s", time.Second, 0, false},
		{"+5s", time.Second, 0, false},
		{"5 s", time.Second, 0, false},
		{"1h30m", time.Second, 0, false},
		{"5sec", time.Second, 0, false},
		{"5us", time.Second, 0, false},
		{"1.", time.Second, 0, false},
		{".5s", time.Second, 0, false},
		{"99999999999999999999", time.Second, 0, false},
		{"9223372036854775807", time.Second, 0, false},
		{"106752d", time.Second, 0, false}, // just over time.Duration's ~292 years
		{"9223372036854775807", time.Nanosecond, 9223372036854775807, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in, tt.bare)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q, %v) = %v, %v; want %v, ok=%v", tt.in, tt.bare, got, err, tt.want, tt.ok)
		}
	}
}
