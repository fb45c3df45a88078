package dataplane

import (
	"bytes"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netns"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// needRoot skips tests that load BPF programs or create namespaces.
func needRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (CAP_BPF, CAP_NET_ADMIN) to load the XDP program and run BPF_PROG_TEST_RUN")
	}
}

func loadDP(tb testing.TB) *Dataplane {
	tb.Helper()
	needRoot(tb)
	d, err := Load(Options{})
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return d
}

// inFreshNetns runs fn on a locked OS thread inside a new, unnamed network
// namespace (gone when the test ends): socket lookups of the program then see
// only the sockets the test makes.
func inFreshNetns(tb testing.TB, fn func()) {
	tb.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		tb.Fatalf("new netns: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot return to the original netns: " + err.Error())
		}
		ns.Close()
	}()
	fn()
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// runFrame runs the program once on frame (BPF_PROG_TEST_RUN).
func runFrame(tb fataler, p *ebpf.Program, frame []byte) (model.Verdict, []byte) {
	tb.Helper()
	out := make([]byte, len(frame)+256)
	opts := ebpf.RunOptions{Data: frame, DataOut: out, Repeat: 1}
	ret, err := p.Run(&opts)
	if err != nil {
		tb.Fatalf("run on %x: %v", frame, err)
	}
	return model.Verdict(ret), opts.DataOut
}

var (
	vip4   = netip.MustParseAddr("198.18.0.100")
	vip6   = netip.MustParseAddr("2001:2::100")
	macA   = [6]byte{0x02, 0x42, 0, 0, 0, 0x0a}
	macB   = [6]byte{0x02, 0x42, 0, 0, 0, 0x0b}
	macC   = [6]byte{0x02, 0x42, 0, 0, 0, 0x0c}
	macCli = [6]byte{0x02, 0x42, 0, 0, 0, 0xcc}
)

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }
