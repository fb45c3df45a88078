package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
)

func cmdUp(args []string) int {
	var lf labFlags
	fs := newFlagSet("up", &lf)
	nodes := fs.Int("nodes", netlab.DefaultNodes, "number of farm nodes")
	clients := fs.Int("clients", netlab.DefaultClients, "number of client namespaces")
	lans := fs.String("lans", "default,private", "LAN names, comma-separated; the first carries the clients and the VIP")
	sources := fs.Int("sources", netlab.DefaultSourcesPerClient, "extra source addresses per client")
	noIPv6 := fs.Bool("no-ipv6", false, "IPv4 only")
	noFarmd := fs.Bool("no-farmd", false, "build the topology only: no farmd, no demo service")
	noStart := fs.Bool("no-start", false, "start farmd but leave the module stopped on every node")
	farmd := fs.String("farmd", "", "farmd binary (default: next to farmlab, else on PATH)")
	filter := fs.String("filter", "on_addr", "load-balancing filter of the module's rules: on_addr or on_port")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the farm to be UP")
	if !parse(fs, args) {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "farmlab up: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := netlab.RequireRoot(); err != nil {
		return fail(err)
	}
	spec := netlab.Spec{
		Prefix: lf.prefix, StateDir: lf.state, Nodes: *nodes, Clients: *clients,
		LANs: strings.Split(*lans, ","), SourcesPerClient: *sources, NoIPv6: *noIPv6,
	}
	if *clients == 0 {
		spec.Clients = -1 // not the default: really none
	}
	var farmdBin, self string
	if !*noFarmd {
		var err error
		if farmdBin, err = netlab.FindBinary("farmd", *farmd); err != nil {
			return fail(err)
		}
		if self, err = os.Executable(); err != nil {
			return fail(fmt.Errorf("find farmlab's own path (the demo service): %w", err))
		}
	}
	start := time.Now()
	l, err := netlab.Up(spec)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("lab up: %d nodes, %d clients, LANs %s (%v)\n", len(l.Plan.Nodes), len(l.Plan.Clients),
		strings.Join(l.Plan.Spec.LANs, ","), time.Since(start).Round(time.Millisecond))
	if !*noFarmd {
		err := l.StartFarm(context.Background(), netlab.FarmOptions{
			Farmd: farmdBin, Farmlab: self, Filter: *filter, StartModules: !*noStart, Timeout: *timeout,
		})
		if err != nil {
			// The topology stays for inspection; `farmlab down` removes it.
			return fail(errors.Join(err, fmt.Errorf("the lab stays up for inspection (farmlab status, farmlab exec); remove it with `farmlab down --state %s`", l.Plan.Spec.StateDir)))
		}
		fmt.Printf("farm up in %v\n", time.Since(start).Round(time.Millisecond))
	}
	return printStatus(l, false)
}
