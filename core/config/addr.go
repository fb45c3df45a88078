package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// parseIP reads an IPv4 or IPv6 literal; IPv6 may be written in brackets
// ("[2001:db8::1]") as SafeKit allows. Zones, the unspecified address and
// multicast addresses are refused: none can name one node or one service.
// IPv4-mapped IPv6 is unmapped so that one address has one spelling.
func parseIP(s string) (netip.Addr, error) {
	t := strings.TrimSpace(s)
	bracketed := strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]")
	if bracketed {
		t = t[1 : len(t)-1]
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("want an IPv4 or IPv6 address")
	}
	switch {
	case bracketed && !a.Is6():
		return netip.Addr{}, fmt.Errorf("brackets are for IPv6 addresses only")
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("zones (%%%s) are not supported", a.Zone())
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("the unspecified address names no host")
	case a.IsMulticast():
		return netip.Addr{}, fmt.Errorf("a multicast address names no single host")
	}
	return a.Unmap(), nil
}

// parseVIP is parseIP plus what a virtual address cannot be: loopback and
// link-local addresses never reach the LAN's clients.
func parseVIP(s string) (netip.Addr, error) {
	a, err := parseIP(s)
	if err != nil {
		return a, err
	}
	if a.IsLoopback() || a.IsLinkLocalUnicast() {
		return netip.Addr{}, fmt.Errorf("a loopback or link-local address cannot be a virtual IP")
	}
	return a, nil
}

// network is the subnet of a VIP that its interface checker watches: the
// netmask when given (dotted IPv4 mask or prefix length), else /24 for IPv4
// and /64 for IPv6 — SafeKit's resource for 172.24.199.100 is intf.172.24.199.0.
func network(a netip.Addr, netmask string) (netip.Prefix, error) {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	if nm := strings.TrimSpace(netmask); nm != "" {
		n, err := maskBits(a, nm)
		if err != nil {
			return netip.Prefix{}, err
		}
		bits = n
	}
	return a.Prefix(bits)
}

func maskBits(a netip.Addr, nm string) (int, error) {
	maxBits := a.BitLen()
	if n, ok := atoiStrict(strings.TrimPrefix(nm, "/")); ok {
		if n < 1 || n > maxBits {
			return 0, fmt.Errorf("want a prefix length from 1 to %d", maxBits)
		}
		return n, nil
	}
	m, err := netip.ParseAddr(nm)
	if err != nil || !a.Is4() || !m.Is4() {
		if a.Is4() {
			return 0, fmt.Errorf("want a dotted mask such as 255.255.255.0 or a prefix length")
		}
		return 0, fmt.Errorf("want a prefix length such as 64")
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&0x80000000 != 0 {
		ones++
		v <<= 1
	}
	if v != 0 || ones == 0 {
		return 0, fmt.Errorf("not a contiguous netmask")
	}
	return ones, nil
}

func atoiStrict(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// isName reports whether s is a plain name: letters, digits and . _ - only,
// not empty and at most max bytes. Node, LAN, group and checker names end up
// in log lines, resource names and file paths, where anything else breaks.
func isName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
