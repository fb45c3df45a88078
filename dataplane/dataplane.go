package dataplane

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// Options tune Load.
type Options struct {
	// VerifierLog asks the kernel for the full verifier log, returned in the
	// error when loading fails (slower; for debugging a verifier rejection).
	VerifierLog bool
}

// Dataplane is one loaded XDP program with its maps, attached to at most one
// interface. Its methods are safe for concurrent use.
type Dataplane struct {
	mu     sync.Mutex
	objs   vipfarmObjects
	link   link.Link
	tables *model.Tables // last configuration, with the current owners and drain state
	slots  [model.MaxGroups]uint32
}

// Load loads the program and its maps into the kernel without attaching it.
// Until Configure is called every frame passes untouched.
func Load(opts Options) (*Dataplane, error) {
	spec, err := loadVipfarm()
	if err != nil {
		return nil, fmt.Errorf("dataplane: read embedded XDP object: %w", err)
	}
	var co ebpf.CollectionOptions
	if opts.VerifierLog {
		co.Programs.LogLevel = ebpf.LogLevelInstruction
	}
	d := &Dataplane{}
	if err := spec.LoadAndAssign(&d.objs, &co); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("dataplane: load XDP program: %+v", ve)
		}
		return nil, fmt.Errorf("dataplane: load XDP program: %w", err)
	}
	return d, nil
}

// Attach attaches the program to interface ifindex: in driver (native) mode,
// or in generic (skb) mode when generic is true. The kernel does not fall
// back from one mode to the other.
func (d *Dataplane) Attach(ifindex int, generic bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.link != nil {
		return fmt.Errorf("dataplane: already attached")
	}
	if ifindex <= 0 {
		return fmt.Errorf("dataplane: attach: invalid interface index %d", ifindex)
	}
	flags := link.XDPDriverMode
	if generic {
		flags = link.XDPGenericMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: d.objs.XdpVipfarm, Interface: ifindex, Flags: flags})
	if err != nil {
		mode := "driver"
		if generic {
			mode = "generic"
		}
		return fmt.Errorf("dataplane: attach XDP to interface %d in %s mode: %w", ifindex, mode, err)
	}
	d.link = l
	return nil
}

// Program is the loaded XDP program, for tests and benchmarks
// (BPF_PROG_TEST_RUN) and for callers attaching it themselves.
func (d *Dataplane) Program() *ebpf.Program { return d.objs.XdpVipfarm }

// Close detaches the program and unloads it with its maps.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if d.link != nil {
		if err := d.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("dataplane: detach: %w", err))
		}
		d.link = nil
	}
	if err := d.objs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("dataplane: unload: %w", err))
	}
	return errors.Join(errs...)
}

// PassOnly is an XDP program that passes every frame, attached by the lab on
// the switch-side end of each node's veth: a veth delivers XDP_TX frames only
// when its peer runs an XDP program (NOTES.md).
type PassOnly struct {
	prog *ebpf.Program
	link link.Link
}

// LoadPassProgram loads the XDP_PASS program of the embedded object without
// attaching it, for a caller that attaches it its own way (the lab attaches
// it through netlink so it outlives the process, as long as the lab lives).
func LoadPassProgram() (*ebpf.Program, error) {
	spec, err := loadVipfarm()
	if err != nil {
		return nil, fmt.Errorf("dataplane: read embedded XDP object: %w", err)
	}
	ps, ok := spec.Programs["xdp_pass"]
	if !ok {
		return nil, fmt.Errorf("dataplane: program xdp_pass missing from the XDP object")
	}
	prog, err := ebpf.NewProgram(ps)
	if err != nil {
		return nil, fmt.Errorf("dataplane: load xdp_pass: %w", err)
	}
	return prog, nil
}

// AttachPassOnly loads the XDP_PASS program and attaches it to ifindex.
func AttachPassOnly(ifindex int, generic bool) (*PassOnly, error) {
	prog, err := LoadPassProgram()
	if err != nil {
		return nil, err
	}
	flags := link.XDPDriverMode
	if generic {
		flags = link.XDPGenericMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("dataplane: attach xdp_pass to interface %d: %w", ifindex, err)
	}
	return &PassOnly{prog: prog, link: l}, nil
}

// Close detaches and unloads the pass-only program.
func (p *PassOnly) Close() error {
	return errors.Join(p.link.Close(), p.prog.Close())
}
