package dataplane

import (
	"testing"

	"github.com/vishvananda/netlink"
)

func xdpAttached(t *testing.T, name string) bool {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	x := l.Attrs().Xdp
	return x != nil && x.Attached
}

// TestAttachVeth attaches the program (driver mode) and the pass-only
// program to the two ends of a veth in a fresh netns, then generic mode, and
// checks Close detaches.
func TestAttachVeth(t *testing.T) {
	needRoot(t)
	inFreshNetns(t, func() {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vf-h4-node"}, PeerName: "vf-h4-sw"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Fatalf("add veth: %v", err)
		}
		node, err := netlink.LinkByName("vf-h4-node")
		if err != nil {
			t.Fatal(err)
		}
		sw, err := netlink.LinkByName("vf-h4-sw")
		if err != nil {
			t.Fatal(err)
		}
		for _, generic := range []bool{false, true} {
			d, err := Load(Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Attach(node.Attrs().Index, generic); err != nil {
				d.Close()
				t.Fatalf("attach (generic=%v): %v", generic, err)
			}
			if err := d.Attach(node.Attrs().Index, generic); err == nil {
				t.Error("second Attach must fail")
			}
			p, err := AttachPassOnly(sw.Attrs().Index, generic)
			if err != nil {
				d.Close()
				t.Fatalf("pass-only (generic=%v): %v", generic, err)
			}
			if !xdpAttached(t, "vf-h4-node") || !xdpAttached(t, "vf-h4-sw") {
				t.Errorf("generic=%v: XDP not reported attached", generic)
			}
			if err := d.Close(); err != nil {
				t.Error(err)
			}
			if err := p.Close(); err != nil {
				t.Error(err)
			}
			if xdpAttached(t, "vf-h4-node") || xdpAttached(t, "vf-h4-sw") {
				t.Errorf("generic=%v: XDP still attached after Close", generic)
			}
		}
	})
}

func TestAttachRefusesBadIndex(t *testing.T) {
	d := loadDP(t)
	if err := d.Attach(0, false); err == nil {
		t.Fatal("Attach(0) must fail")
	}
}
