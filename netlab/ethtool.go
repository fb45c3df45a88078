package netlab

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Legacy ethtool commands (linux/ethtool.h). The kernel maps them onto the
// feature flags (ETHTOOL_STXCSUM clears every NETIF_F_CSUM_MASK bit, and
// netdev_update_features then drops TSO, which needs it), so they are the
// same as `ethtool -K DEV tx off` without the ethtool binary or a generic
// netlink ethtool client.
const (
	ethtoolGTXCSUM = 0x00000016
	ethtoolSTXCSUM = 0x00000017
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with the ifr_data member of its union; the
// padding makes it the kernel's 40 bytes on 64-bit machines.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtoolValueIoctl runs one SIOCETHTOOL get/set of an ethtool_value on dev
// in namespace ns.
func ethtoolValueIoctl(ns, dev string, cmd, data uint32) (uint32, error) {
	if len(dev) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("ethtool %s: interface name too long", dev)
	}
	var out uint32
	err := InNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer unix.Close(fd)
		v := ethtoolValue{cmd: cmd, data: data}
		var ifr ifreqData
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&v)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return errno
		}
		out = v.data
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ethtool cmd %#x on %s in netns %s: %w", cmd, dev, ns, err)
	}
	return out, nil
}

// setTxChecksum turns tx checksum offload on or off (`ethtool -K dev tx`).
// The lab turns it off on client veths: a locally built TCP/UDP packet on a
// veth carries a partial checksum, and a node that XDP_TXes the frame to
// another node drops that metadata, so the frame would arrive with a bad
// checksum (NOTES.md).
func setTxChecksum(ns, dev string, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	_, err := ethtoolValueIoctl(ns, dev, ethtoolSTXCSUM, v)
	return err
}

// TxChecksum reports whether tx checksum offload is on for dev in ns.
func TxChecksum(ns, dev string) (bool, error) {
	v, err := ethtoolValueIoctl(ns, dev, ethtoolGTXCSUM, 0)
	return v != 0, err
}
