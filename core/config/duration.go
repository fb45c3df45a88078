package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ParseDuration reads a SafeKit time attribute. Since SafeKit 8.2.5 such an
// attribute takes a unit ("100ms", "5s", "10m", "24h", "1d"); before, it was a
// bare number in a unit fixed per attribute (pulse in milliseconds, timeouts
// in seconds, loop_interval in hours), and old files still say so. A bare
// number is therefore read in bareUnit. A decimal fraction is allowed
// ("1.5s"); signs, spaces inside, combined units ("1h30m") and negative
// values are not: the guide documents none of them and each would be a guess.
func ParseDuration(s string, bareUnit time.Duration) (time.Duration, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("duration %q: want a number with an optional unit ms, s, m, h or d", s)
	}
	whole, frac := t[:i], ""
	if i < len(t) && t[i] == '.' {
		j := i + 1
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if j == i+1 {
			return 0, fmt.Errorf("duration %q: want digits after the decimal point", s)
		}
		frac, i = t[i+1:j], j
	}
	unit := bareUnit
	switch t[i:] {
	case "":
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("duration %q: unknown unit %q, want ms, s, m, h or d", s, t[i:])
	}
	if unit <= 0 {
		return 0, fmt.Errorf("duration %q: no unit and none implied", s)
	}
	var n int64
	for _, c := range whole {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("duration %q: too large", s)
		}
		n = n*10 + d
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("duration %q: too large", s)
	}
	total := n * int64(unit)
	// The fraction: at most 18 digits matter below one unit of a day.
	scale := int64(unit)
	for k := 0; k < len(frac) && scale > 0; k++ {
		scale /= 10
		total += int64(frac[k]-'0') * scale
		if total < 0 {
			return 0, fmt.Errorf("duration %q: too large", s)
		}
	}
	return time.Duration(total), nil
}
