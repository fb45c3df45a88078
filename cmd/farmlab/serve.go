package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/netlab/demo"
)

// cmdServe is the demo service: the farm module's scripts start it on every
// node (see netlab/demo for the protocol).
func cmdServe(args []string) int {
	fs := newFlagSet("serve", nil)
	name := fs.String("name", "", "node name to answer with (required)")
	port := fs.Int("port", 9000, "TCP and UDP port (the VIP port of the module's rules)")
	addr := fs.String("addr", "", "local address to bind (default: every address, so the VIP too)")
	pidfile := fs.String("pidfile", "", "write the PID here once listening (removed on exit)")
	idle := fs.Duration("idle", 0, "close a TCP connection idle that long (0: never, for long-lived connections)")
	if !parse(fs, args) {
		return 2
	}
	if *name == "" || fs.NArg() > 0 || *port < 1 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "usage: farmlab serve --name NODE [--port 9000] [--addr A] [--pidfile F] [--idle D]")
		return 2
	}
	hp := net.JoinHostPort(*addr, strconv.Itoa(*port))
	tl, err := net.Listen("tcp", hp)
	if err != nil {
		return fail(err)
	}
	// One UDP socket per family, so that every answer leaves from the
	// address its datagram was sent to (see demo.Server.Serve).
	host4, host6 := "0.0.0.0", "::"
	if *addr != "" {
		host4, host6 = *addr, *addr
	}
	var udp []net.PacketConn
	for _, fam := range []struct{ network, host string }{{"udp4", host4}, {"udp6", host6}} {
		pc, err := net.ListenPacket(fam.network, net.JoinHostPort(fam.host, strconv.Itoa(*port)))
		if err != nil {
			if *addr != "" {
				continue // an explicit address is of one family only
			}
			return fail(err)
		}
		udp = append(udp, pc)
	}
	if len(udp) == 0 {
		return fail(fmt.Errorf("no UDP socket on %s", hp))
	}
	if *pidfile != "" {
		if err := os.WriteFile(*pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fail(err)
		}
		defer os.Remove(*pidfile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Printf("%s demo service %s: serving tcp and udp on %s\n", time.Now().Format(time.RFC3339), *name, hp)
	if err := (demo.Server{Name: *name, IdleTimeout: *idle}).Serve(ctx, tl, udp...); err != nil {
		return fail(err)
	}
	return 0
}
