package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
)

// The bulk-transfer sink must receive flows sent to the VIP's service port:
// only that port matches the module's rules, so only it exercises the XDP
// decision (a flow to another port matches no rule and goes to the ARP
// holder whoever owns its bucket). That port is taken by the demo service,
// which listens on the wildcard address without SO_REUSEPORT. Instead of
// stopping the farm's application, a BPF sk_lookup program in the node's
// namespace hands the SYNs of the benchmark's own client addresses (and
// only those) to the sink's listener on another port. sk_lookup runs only
// when a packet finds no established socket, i.e. for the SYN: the bulk
// transfer itself never meets it. The link is held by this process, so it
// goes away with it (a crashed farmlab leaves nothing behind).

// struct bpf_sk_lookup offsets (uapi/linux/bpf.h).
const (
	skLookupProtocol  = 12
	skLookupRemoteIP4 = 16
	skLookupLocalIP4  = 40
	skLookupLocalPort = 60 // host byte order
	skPass            = 1  // SK_PASS
)

// steer is an attached sk_lookup program with its one-socket map.
type steer struct {
	prog *ebpf.Program
	sock *ebpf.Map
	lnk  link.Link
}

// steerInstructions builds the program: a TCP SYN to dst from one of srcs
// is assigned to the socket in slot 0 of the map; anything else passes to
// the normal lookup.
func steerInstructions(sock *ebpf.Map, dst netip.AddrPort, srcs []netip.Addr) asm.Instructions {
	ip := func(a netip.Addr) int32 {
		b := a.As4()
		// The context holds the address in network order; a 32-bit load
		// reads it in host order, so compare against the same.
		return int32(binary.NativeEndian.Uint32(b[:]))
	}
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, skLookupProtocol, asm.Word),
		asm.JNE.Imm(asm.R2, syscall.IPPROTO_TCP, "pass"),
		asm.LoadMem(asm.R2, asm.R6, skLookupLocalPort, asm.Word),
		asm.JNE.Imm(asm.R2, int32(dst.Port()), "pass"),
		asm.LoadMem(asm.R2, asm.R6, skLookupLocalIP4, asm.Word),
		asm.JNE.Imm32(asm.R2, ip(dst.Addr()), "pass"),
		asm.LoadMem(asm.R2, asm.R6, skLookupRemoteIP4, asm.Word),
	}
	for _, s := range srcs {
		ins = append(ins, asm.JEq.Imm32(asm.R2, ip(s), "steer"))
	}
	ins = append(ins,
		asm.Ja.Label("pass"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word).WithSymbol("steer"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, sock.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnSkAssign.Call(),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.FnSkRelease.Call(),
		asm.Mov.Imm(asm.R0, skPass).WithSymbol("pass"),
		asm.Return(),
	)
	return ins
}

// attachSteer steers, in namespace ns, TCP connections to dst from srcs to
// listener ln (which must live in ns).
func attachSteer(ns string, dst netip.AddrPort, srcs []netip.Addr, ln net.Listener) (*steer, error) {
	if !dst.Addr().Is4() {
		return nil, fmt.Errorf("steer %s: IPv4 only", dst)
	}
	for _, s := range srcs {
		if !s.Is4() {
			return nil, fmt.Errorf("steer to %s: source %s is not IPv4", dst, s)
		}
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("steer to %s: listener %T is not TCP", dst, ln)
	}
	st := &steer{}
	var err error
	st.sock, err = ebpf.NewMap(&ebpf.MapSpec{Name: "vf_bench_sock", Type: ebpf.SockMap, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("steer: sockmap: %w", err)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		st.close()
		return nil, fmt.Errorf("steer: listener fd: %w", err)
	}
	var uerr error
	if err := rc.Control(func(fd uintptr) { uerr = st.sock.Update(uint32(0), uint64(fd), ebpf.UpdateAny) }); err != nil {
		uerr = err
	}
	if uerr != nil {
		st.close()
		return nil, fmt.Errorf("steer: put listener %s in the sockmap: %w", ln.Addr(), uerr)
	}
	st.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vf_bench_steer",
		Type:         ebpf.SkLookup,
		AttachType:   ebpf.AttachSkLookup,
		License:      "Dual MIT/GPL",
		Instructions: steerInstructions(st.sock, dst, srcs),
	})
	if err != nil {
		st.close()
		return nil, fmt.Errorf("steer: load sk_lookup program: %w", err)
	}
	h, err := netns.GetFromName(ns)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("steer: open netns %s: %w", ns, err)
	}
	defer h.Close()
	st.lnk, err = link.AttachNetNs(int(h), st.prog)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("steer: attach sk_lookup to netns %s: %w", ns, err)
	}
	return st, nil
}

func (s *steer) close() error {
	var errs []error
	if s.lnk != nil {
		errs = append(errs, s.lnk.Close())
	}
	if s.prog != nil {
		errs = append(errs, s.prog.Close())
	}
	if s.sock != nil {
		errs = append(errs, s.sock.Close())
	}
	return errors.Join(errs...)
}
