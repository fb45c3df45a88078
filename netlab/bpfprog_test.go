package netlab

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
)

// frame is an Ethernet frame from src, padded to a minimal IPv4 size.
func frame(src string) []byte {
	hw, _ := net.ParseMAC(src)
	b := make([]byte, 64)
	copy(b[0:6], []byte{0x02, 0x56, 0x46, 0, 1, 1})
	copy(b[6:12], hw)
	b[12], b[13] = 0x08, 0x00
	return b
}

func runProg(t *testing.T, prog *ebpf.Program, pkt []byte) uint32 {
	t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: pkt})
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return ret
}

// The port filter, run on crafted frames through BPF_PROG_TEST_RUN: a
// blocked source MAC is dropped whatever its byte values (the comparison
// must hold for bytes >= 0x80, which sign-extend in a 64-bit compare),
// everything else passes, and 100% loss drops all.
func TestPortFilterProgram(t *testing.T) {
	needRoot(t)
	blocked := []string{"02:56:46:00:01:02", "fe:ff:80:90:a0:b0"}
	var f portFilter
	for _, m := range blocked {
		hw, _ := net.ParseMAC(m)
		f.Blocked = append(f.Blocked, hw)
	}
	prog, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for _, tc := range []struct {
		src  string
		want uint32
	}{
		{"02:56:46:00:01:02", tcActDrp},
		{"fe:ff:80:90:a0:b0", tcActDrp},
		{"02:56:46:00:01:03", tcActOK}, // differs in the last byte only
		{"02:56:47:00:01:02", tcActOK}, // differs in the first word only
		{"fe:ff:80:90:a0:b1", tcActOK}, // high bytes, last byte differs
		{"02:56:46:00:02:01", tcActOK}, // a client
	} {
		if got := runProg(t, prog, frame(tc.src)); got != tc.want {
			t.Errorf("frame from %s: verdict %d, want %d", tc.src, got, tc.want)
		}
	}

	all, err := portFilter{LossPct: 100}.load()
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	none, err := portFilter{LossPct: 0.0000001}.load() // rounds to a threshold of 0: never drops
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	for range 50 {
		if got := runProg(t, all, frame("02:56:46:00:02:01")); got != tcActDrp {
			t.Fatalf("100%% loss passed a frame (verdict %d)", got)
		}
		if got := runProg(t, none, frame("02:56:46:00:02:01")); got != tcActOK {
			t.Fatalf("~0%% loss dropped a frame (verdict %d)", got)
		}
	}

	pass, err := loadXDPPass()
	if err != nil {
		t.Fatal(err)
	}
	defer pass.Close()
	if got := runProg(t, pass, frame("02:56:46:00:01:02")); got != 2 { // XDP_PASS
		t.Errorf("XDP_PASS program returned %d", got)
	}
}
