package sim

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vipfarm/vipfarm/core/config"
)

// ModuleName is the module an inline cluster gets.
const ModuleName = "AM"

// Addresses of the inline cluster: LAN i is 198.18.i.0/24 and node k is
// 198.18.i.(11+k), all inside the benchmarking range 198.18.0.0/15 (clients
// of traffic: use 198.19.0.0/16). The VIP sits on the first LAN, as on a
// flat network; with traffic ipv6 it is a documentation-prefix address.
const (
	inlineVIP4 = "198.18.0.100"
	inlineVIP6 = "2001:db8::100" // documentation prefix: never routed
	inlinePort = 9010
)

// farmConfig is the cluster and module a scenario runs, both produced by
// the real parser of core/config.
type farmConfig struct {
	cluster *config.Cluster
	module  *config.Module
	// clusterXML and userconfigXML are the texts parsed (generated for an
	// inline cluster): what a lab writes into its nodes' module directories.
	clusterXML, userconfigXML []byte
}

// Config returns the scenario's configuration as the real parser read it,
// with `farm:` overrides applied, and the SafeKit file texts it came from
// (generated for an inline cluster): farmlab writes these into its nodes so
// that the simulator and the lab run the very same module.
func (sc *Scenario) Config() (cl *config.Cluster, mod *config.Module, clusterXML, userconfigXML []byte, err error) {
	fc, err := sc.loadConfig()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return fc.cluster, fc.module, fc.clusterXML, fc.userconfigXML, nil
}

// loadConfig builds the scenario's configuration: real files for `files:`,
// generated SafeKit files for an inline cluster. Both go through the same
// parser, so an inline scenario exercises the parser too.
func (sc *Scenario) loadConfig() (*farmConfig, error) {
	files := sc.Files
	if sc.Cluster != nil && sc.Cluster.Files != nil {
		files = sc.Cluster.Files
	}
	fc := &farmConfig{}
	var clusterName, userName string
	if files != nil {
		clusterName, userName = sc.resolve(files.Cluster), sc.resolve(files.Userconfig)
		var err error
		if fc.clusterXML, err = os.ReadFile(clusterName); err != nil {
			return nil, inputErr("%s: files: %v", sc.Path, err)
		}
		if fc.userconfigXML, err = os.ReadFile(userName); err != nil {
			return nil, inputErr("%s: files: %v", sc.Path, err)
		}
	} else {
		if err := sc.Cluster.check(sc.Path); err != nil {
			return nil, err
		}
		clusterName, userName = "(inline cluster of "+sc.Path+")/cluster.xml", "(inline cluster of "+sc.Path+")/userconfig.xml"
		fc.clusterXML = []byte(inlineClusterXML(sc.Cluster))
		fc.userconfigXML = []byte(inlineUserconfigXML(sc.Cluster, sc.Traffic))
	}
	var err error
	if fc.cluster, err = config.ParseCluster(clusterName, fc.clusterXML); err != nil {
		return nil, inputErr("%v", err)
	}
	// The simulator has no process environment: an undefined %macro% is an
	// error, as it would be on a machine without that variable.
	noEnv := func(string) (string, bool) { return "", false }
	if fc.module, err = config.ParseModule(ModuleName, userName, fc.userconfigXML, fc.cluster, noEnv); err != nil {
		return nil, inputErr("%v", err)
	}
	if err := sc.applyFarm(fc.module); err != nil {
		return nil, err
	}
	return fc, nil
}

func (c *InlineCluster) check(path string) error {
	seen := map[string]bool{}
	for _, n := range c.Nodes {
		if n == "" || strings.ContainsAny(n, " ,|<>&\"'") {
			return inputErr("%s: cluster: node name %q must be a plain word", path, n)
		}
		if seen[n] {
			return inputErr("%s: cluster: node %q listed twice", path, n)
		}
		seen[n] = true
	}
	if len(c.Nodes) > 64 {
		return inputErr("%s: cluster: %d nodes, at most 64", path, len(c.Nodes))
	}
	if len(c.LANs) > 200 {
		return inputErr("%s: cluster: %d LANs, at most 200", path, len(c.LANs))
	}
	for name, p := range c.Power {
		if !seen[name] {
			return inputErr("%s: cluster: power for %q, which is not in nodes %v", path, name, c.Nodes)
		}
		if p < 0 {
			return inputErr("%s: cluster: power of %s is %d (want 0 or more)", path, name, p)
		}
	}
	lans := map[string]bool{}
	for _, l := range c.LANs {
		if lans[l] || l == "" || strings.ContainsAny(l, " <>&\"'") {
			return inputErr("%s: cluster: LAN %q is empty, duplicated or not a plain word", path, l)
		}
		lans[l] = true
	}
	return nil
}

func (c *InlineCluster) lans() []string {
	if len(c.LANs) == 0 {
		return []string{"default"}
	}
	return c.LANs
}

func nodeAddr(lan, node int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(lan), byte(11 + node)})
}

func inlineClusterXML(c *InlineCluster) string {
	var b strings.Builder
	b.WriteString("<cluster>\n  <lans port=\"4800\">\n")
	for li, lan := range c.lans() {
		fmt.Fprintf(&b, "    <lan name=%q>\n", lan)
		for ni, n := range c.Nodes {
			fmt.Fprintf(&b, "      <node name=%q addr=%q/>\n", n, nodeAddr(li, ni))
		}
		b.WriteString("    </lan>\n")
	}
	b.WriteString("  </lans>\n</cluster>\n")
	return b.String()
}

// inlineUserconfigXML is the default module AM of SPEC §6: one group
// FarmProto, the VIP with its interface and address checkers, one rule,
// SafeKit defaults everywhere else, boot="off".
func inlineUserconfigXML(c *InlineCluster, t *Traffic) string {
	vip, proto, filter := inlineVIP4, "tcp", "on_addr"
	if t != nil {
		if t.IPv6 {
			vip = inlineVIP6
		}
		if t.Proto != "" {
			proto = t.Proto
		}
		if t.Filter != "" {
			filter = t.Filter
		}
	}
	var b strings.Builder
	b.WriteString("<!DOCTYPE safe>\n<safe>\n")
	fmt.Fprintf(&b, "<macro name=\"VIRTUAL_IP\" value=%q/>\n", vip)
	b.WriteString("<service mode=\"farm\" boot=\"off\" maxloop=\"3\" loop_interval=\"24h\">\n  <farm>\n")
	for _, lan := range c.lans() {
		fmt.Fprintf(&b, "    <lan name=%q/>\n", lan)
	}
	b.WriteString("  </farm>\n  <vip>\n    <interface_list>\n      <interface check=\"on\">\n")
	b.WriteString("        <virtual_interface>\n          <virtual_addr addr=\"%VIRTUAL_IP%\" where=\"alias\" check=\"on\"/>\n")
	b.WriteString("        </virtual_interface>\n      </interface>\n    </interface_list>\n")
	b.WriteString("    <loadbalancing_list>\n      <group name=\"FarmProto\">\n")
	if len(c.Power) > 0 {
		b.WriteString("        <cluster>\n")
		for _, n := range c.Nodes {
			p, ok := c.Power[n]
			if !ok {
				p = 1
			}
			fmt.Fprintf(&b, "          <host name=%q power=\"%d\"/>\n", n, p)
		}
		b.WriteString("        </cluster>\n")
	}
	fmt.Fprintf(&b, "        <rule port=\"%d\" proto=%q filter=%q/>\n", inlinePort, proto, filter)
	b.WriteString("      </group>\n    </loadbalancing_list>\n  </vip>\n")
	b.WriteString("  <user/>\n  <failover/>\n</service>\n</safe>\n")
	return b.String()
}

// applyFarm applies `farm:` overrides to the parsed module.
func (sc *Scenario) applyFarm(m *config.Module) error {
	f := sc.Farm
	if f == nil {
		return nil
	}
	if f.Pulse != nil {
		if f.Pulse.Ms() < 10 {
			return inputErr("%s: farm: pulse %s is below one tick (10ms)", sc.Path, f.Pulse.String())
		}
		m.Farm.Pulse = durationOf(*f.Pulse)
	}
	if f.SlostCount != nil {
		if *f.SlostCount < 1 {
			return inputErr("%s: farm: slost_count %d (want 1 or more)", sc.Path, *f.SlostCount)
		}
		m.Farm.SlostCount = *f.SlostCount
	}
	if f.MlostCount != nil {
		if *f.MlostCount < 1 {
			return inputErr("%s: farm: mlost_count %d (want 1 or more)", sc.Path, *f.MlostCount)
		}
		m.Farm.MlostCount = *f.MlostCount
	}
	return nil
}
