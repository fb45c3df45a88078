package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
)

// cmdProbe connects to the VIP once from every source address of every
// client and reports which node answered: a snapshot of the load balancing.
func cmdProbe(args []string) int {
	var lf labFlags
	fs := newFlagSet("probe", &lf)
	proto := fs.String("proto", "tcp", "tcp or udp")
	v6 := fs.Bool("6", false, "probe the IPv6 VIP (from each client's IPv6 address)")
	timeout := fs.Duration("timeout", 2*time.Second, "per probe")
	clients := fs.String("clients", "", "comma-separated clients (default all)")
	asJSON := fs.Bool("json", false, "every probe as JSON")
	if !parse(fs, args) {
		return 2
	}
	l, err := openLab(lf)
	if err != nil {
		return fail(err)
	}
	o := netlab.SweepOptions{Proto: *proto, IPv6: *v6, Timeout: *timeout}
	if *clients != "" {
		o.Clients = strings.Split(*clients, ",")
	}
	sw, err := l.SweepVIP(context.Background(), o)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sw); err != nil {
			return fail(err)
		}
	} else {
		names := make([]string, 0, len(sw.PerNode))
		for n := range sw.PerNode {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Printf("%d %s probes to %s in %v:", len(sw.Probes), sw.Proto, sw.Dst, sw.Took.Round(time.Millisecond))
		for _, n := range names {
			fmt.Printf(" %s=%d", n, sw.PerNode[n])
		}
		fmt.Printf(" failed=%d\n", sw.Failed)
		shown := 0
		for _, p := range sw.Probes {
			if p.Err != "" && shown < 5 {
				fmt.Printf("  %s from %v: %s\n", p.Client, p.Src, p.Err)
				shown++
			}
		}
	}
	if sw.Failed > 0 {
		return 1
	}
	return 0
}
