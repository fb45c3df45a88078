package netlab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// stopGrace is how long a lab process gets between SIGTERM and SIGKILL.
const stopGrace = 3 * time.Second

// Down removes the lab of spec (its Prefix and StateDir; zero fields take
// their defaults): every process the lab started, every namespace (from the
// state file and from a scan of /run/netns for the lab's name pattern, so a
// lost or stale state file is no obstacle), every link it made, then its
// files and the state file. It is idempotent: with nothing to remove it
// returns nil. It keeps going after an error and returns all of them.
func Down(spec Spec) error {
	if err := RequireRoot(); err != nil {
		return err
	}
	s, err := spec.withDefaults()
	if err != nil {
		return err
	}
	var errs []error
	var st State
	sf, err := loadState(s.StateDir)
	switch {
	case err == nil:
		st = sf.snapshot()
	case errors.Is(err, fs.ErrNotExist):
	default:
		// A corrupt state file: the name scan below still finds the
		// namespaces; report the file and remove it at the end.
		errs = append(errs, err)
	}

	// 1. The processes recorded, each verified by its start time.
	for _, pr := range st.Procs {
		if err := stopProc(pr, stopGrace); err != nil {
			errs = append(errs, err)
		}
	}

	// 2. Namespaces: recorded ones plus any that match the lab's pattern.
	names := slices.Clone(st.Namespaces)
	found, err := scanLabNamespaces(s.Prefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range found {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	// Processes inside them that were not recorded (farmd's scripts, the
	// demo service, or a farmd recorded in a state file that was lost).
	for _, ns := range names {
		if !namedns.Exists(ns) {
			continue
		}
		procs, err := procsInNS(ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, pr := range procs {
			if err := stopProc(pr, stopGrace); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Links explicitly, switch side first: deleting one end of a veth
	// deletes its peer at once, whereas a namespace's devices go only when
	// the kernel gets round to freeing the namespace.
	for _, lr := range slices.Backward(st.Links) {
		if err := deleteLink(lr); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range names {
		if err := namedns.Remove(ns); err != nil {
			errs = append(errs, err)
		}
	}

	// 3. Files, newest first, then the state file and its directory when
	// that is left empty.
	for _, f := range slices.Backward(st.Files) {
		if err := os.RemoveAll(f); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", f, err))
		}
	}
	for _, f := range []string{StatePath(s.StateDir), StatePath(s.StateDir) + ".tmp"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", f, err))
		}
	}
	if err := os.Remove(s.StateDir); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(err) {
		errs = append(errs, fmt.Errorf("remove %s: %w", s.StateDir, err))
	}
	return errors.Join(errs...)
}

func isNotEmpty(err error) bool { return errors.Is(err, unix.ENOTEMPTY) }

// scanLabNamespaces lists the named namespaces that match the lab's naming
// pattern for prefix.
func scanLabNamespaces(prefix string) ([]string, error) {
	ents, err := os.ReadDir(namedns.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", namedns.Dir, err)
	}
	re := labNSPattern(prefix)
	var out []string
	for _, e := range ents {
		if re.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// deleteLink deletes a recorded link; one already gone is fine.
func deleteLink(lr LinkRef) error {
	if !namedns.Exists(lr.NS) {
		return nil
	}
	h, err := namedns.HandleAt(lr.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(lr.Name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil // gone (a veth whose peer was deleted, or never made)
	}
	if err != nil {
		return fmt.Errorf("find link %s in %s: %w", lr.Name, lr.NS, err)
	}
	if err := h.LinkDel(link); err != nil {
		return fmt.Errorf("delete link %s in %s: %w", lr.Name, lr.NS, err)
	}
	return nil
}
