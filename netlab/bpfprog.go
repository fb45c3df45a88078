package netlab

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vipfarm/vipfarm/dataplane"
)

// The switch ports carry two BPF programs: the dataplane's XDP_PASS program
// and the port filter below, written as instructions (cilium/ebpf asm): it is
// a handful of instructions and needs no C toolchain.
//
// Both are attached the "legacy" way, through netlink (XDP via
// IFLA_XDP, the filter via cls_bpf), not as bpf_links: the kernel keeps them
// attached after farmlab exits, until the device goes away with its
// namespace, which is exactly the lab's lifetime.

const (
	tcActOK  = 0 // TC_ACT_OK
	tcActDrp = 2 // TC_ACT_SHOT

	// struct __sk_buff offsets (uapi/linux/bpf.h).
	skbData    = 76
	skbDataEnd = 80
)

// loadXDPPass loads the dataplane's program that passes every frame.
// Switch-side veths carry it so that frames a node XDP_TXes are received
// (NOTES.md).
func loadXDPPass() (*ebpf.Program, error) { return dataplane.LoadPassProgram() }

// portFilter is what the switch does to frames leaving one port towards its
// node or client: drop those sent by a blocked MAC (a partition), and drop
// a fraction of all of them (loss).
type portFilter struct {
	Blocked []net.HardwareAddr
	LossPct float64 // 0..100
}

func (f portFilter) empty() bool { return len(f.Blocked) == 0 && f.LossPct <= 0 }

// lossThreshold maps a loss percentage to the bound under which a uniform
// 32-bit random number means "drop".
func lossThreshold(pct float64) uint64 {
	if pct <= 0 {
		return 0
	}
	if pct >= 100 {
		return 1 << 32
	}
	return uint64(math.Round(pct / 100 * (1 << 32)))
}

// instructions builds the cls_bpf direct-action program of f. The blocked
// MACs and the loss threshold are immediates, so the program has no maps:
// a change of partition or loss replaces the filter atomically.
func (f portFilter) instructions() asm.Instructions {
	ins := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if thr := lossThreshold(f.LossPct); thr > 0 {
		ins = append(ins,
			asm.FnGetPrandomU32.Call(),
			asm.LoadImm(asm.R1, int64(thr), asm.DWord),
			asm.JLT.Reg(asm.R0, asm.R1, "drop"),
		)
	}
	if len(f.Blocked) > 0 {
		ins = append(ins,
			asm.LoadMem(asm.R2, asm.R6, skbData, asm.Word),
			asm.LoadMem(asm.R3, asm.R6, skbDataEnd, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			// Source MAC: bytes 6..9 and 10..11 of the Ethernet header.
			asm.LoadMem(asm.R4, asm.R2, 6, asm.Word),
			asm.LoadMem(asm.R5, asm.R2, 10, asm.Half),
		)
		for i, m := range f.Blocked {
			// Loads are in host byte order; compare against the same.
			hi := int32(binary.NativeEndian.Uint32(m[0:4]))
			lo := int32(binary.NativeEndian.Uint16(m[4:6]))
			next := fmt.Sprintf("next%d", i)
			ins = append(ins,
				asm.JNE.Imm32(asm.R4, hi, next),
				asm.JEq.Imm32(asm.R5, lo, "drop"),
				asm.Mov.Imm(asm.R0, 0).WithSymbol(next), // a no-op landing pad
			)
		}
	}
	ins = append(ins,
		asm.Mov.Imm(asm.R0, tcActOK).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcActDrp).WithSymbol("drop"),
		asm.Return(),
	)
	return ins
}

func (f portFilter) load() (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vf_lab_port",
		Type:         ebpf.SchedCLS,
		License:      "Dual MIT/GPL",
		Instructions: f.instructions(),
	})
	if err != nil {
		return nil, fmt.Errorf("load port filter program: %w", err)
	}
	return prog, nil
}
