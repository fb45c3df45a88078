package model

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core/config"
)

func TestFromModule(t *testing.T) {
	vip := netip.MustParseAddr("198.18.0.100")
	m := &config.Module{
		Name: "AM",
		VIP: &config.VIP{
			Interfaces: []config.Interface{{Mode: config.ModeAlias, Addrs: []config.VirtualAddr{{Addr: vip}}}},
			Groups: []config.Group{
				{Name: "FarmProto", Rules: []config.Rule{{Port: 9010, Proto: "tcp", Filter: config.OnAddr}}},
				{Name: "Dns", Rules: []config.Rule{{VirtualAddr: vip, Proto: "udp", Filter: config.OnPort}}},
			},
		},
	}
	tb, err := FromModule(m)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Mode != Alias || len(tb.VIPs) != 1 || tb.VIPs[0] != vip || len(tb.Owners) != 2 {
		t.Fatalf("tables: %+v", tb)
	}
	want := []Rule{{Proto: ProtoTCP, Port: 9010, Filter: OnAddr, Group: 0}, {VIP: vip, Proto: ProtoUDP, Filter: OnPort, Group: 1}}
	for i, r := range want {
		if tb.Rules[i] != r {
			t.Errorf("rule %d: %+v, want %+v", i, tb.Rules[i], r)
		}
	}
	if tb.Owners[1][17] != NoOwner {
		t.Error("a fresh owner table must be all NoOwner")
	}
	m.VIP.Interfaces[0].Mode = config.ModeVMACInvisible
	if tb, _ := FromModule(m); tb.Mode != VMACInvisible {
		t.Error("vmac_invisible not carried")
	}
	m.VIP.Groups[0].Rules[0].Proto = "sctp"
	if _, err := FromModule(m); err == nil || !strings.Contains(err.Error(), `protocol "sctp"`) {
		t.Errorf("sctp rule: %v", err)
	}
	if tb, err := FromModule(&config.Module{Name: "X"}); err != nil || len(tb.VIPs) != 0 {
		t.Errorf("module without <vip>: %+v, %v", tb, err)
	}
}
