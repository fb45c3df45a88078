package dataplane

import (
	"net/netip"
	"testing"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

func TestLoadAndUnconfiguredPass(t *testing.T) {
	d := loadDP(t)
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA},
		netip.MustParseAddrPort("198.18.1.1:4000"), netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	v, out := runFrame(t, d.Program(), f)
	if v != model.Pass || !sameBytes(out, f) {
		t.Fatalf("unconfigured program: %v %x", v, out)
	}
}
