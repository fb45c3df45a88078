package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
)

func cmdStatus(args []string) int {
	var lf labFlags
	fs := newFlagSet("status", &lf)
	asJSON := fs.Bool("json", false, "JSON output")
	if !parse(fs, args) {
		return 2
	}
	l, err := openLab(lf)
	if err != nil {
		return fail(err)
	}
	return printStatus(l, *asJSON)
}

func printStatus(l *netlab.Lab, asJSON bool) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := l.Status(ctx)
	if err != nil {
		return fail(err)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return fail(err)
		}
		return 0
	}
	fmt.Printf("module %s  VIP %s", st.Module, st.VIP)
	if st.VIP6 != "" {
		fmt.Printf(" %s", st.VIP6)
	}
	fmt.Printf("  port %d\n", l.Plan.Spec.ServicePort)
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tNETNS\tADDRS\tADMIN\tSTATE\tSHARE")
	for _, n := range st.Nodes {
		var addrs []string
		for _, lan := range l.Plan.Spec.LANs {
			addrs = append(addrs, lan+"="+n.Addrs[lan])
		}
		state := n.State
		if state == "" {
			state = "-"
		} else if n.State != "ERROR" && !n.Ready {
			state += " (transient)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d%%\n", n.Name, n.NS, strings.Join(addrs, " "), n.AdminURL, state, n.Share)
	}
	for _, c := range st.Clients {
		fmt.Fprintf(w, "%s\t%s\t%s\t\t\t\n", c.Name, c.NS, c.Addr+" + "+c.Sources)
	}
	w.Flush()
	for _, f := range st.Faults {
		fmt.Println("fault:", f)
	}
	return 0
}
