package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	d := Defaults()
	if d.VIP != nil || d.User != nil || d.Errd != nil || len(d.Checks) != 0 {
		t.Errorf("Defaults has optional sections: %+v", d)
	}
	if d.Service.Mode != "farm" || d.Service.Boot != BootOff || d.Service.MaxLoop != 3 || d.Service.LoopInterval != 24*time.Hour {
		t.Errorf("service defaults %+v", d.Service)
	}
	if d.Farm.Pulse != 100*time.Millisecond || d.Farm.SlostCount != 10 || d.Farm.MlostCount != 20 {
		t.Errorf("farm defaults %+v", d.Farm)
	}
	if d.Failover.Period != 5*time.Second || d.Failover.HandleTime != 15*time.Second || len(d.Failover.Rules) != 3 {
		t.Errorf("failover defaults %+v", d.Failover)
	}
	// A minimal file gets exactly the defaults plus its LAN.
	m, err := ParseModule("AM", "u.xml", moduleXML("", ""), testCluster(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Name, d.Farm.LANs = "AM", []string{"default"}
	if !reflect.DeepEqual(*m, d) {
		t.Errorf("minimal module\n got  %+v\n want %+v", *m, d)
	}
}

func TestAttributeLineInMultiLineTag(t *testing.T) {
	data := []byte(`<safe>
<service mode="farm">
  <farm
     pulse="100ms"
     slost_count="ten">
    <lan name="default"/>
  </farm>
</service>
</safe>`)
	_, err := ParseModule("AM", "u.xml", data, testCluster(t), nil)
	if err == nil || err.Error() != `u.xml:5: farm slost_count "ten": want an integer from 1 to 100000` {
		t.Errorf("err = %v", err)
	}
}

func TestModuleArguments(t *testing.T) {
	cl := testCluster(t)
	if _, err := ParseModule("A M", "u.xml", moduleXML("", ""), cl, nil); err == nil || err.Error() != `u.xml:0: module name "A M": want letters, digits, '.', '_' or '-'` {
		t.Errorf("bad name: %v", err)
	}
	if _, err := ParseModule("AM", "u.xml", moduleXML("", ""), nil, nil); err == nil || !strings.Contains(err.Error(), "no cluster.xml") {
		t.Errorf("nil cluster: %v", err)
	}
	for _, data := range []string{"", "   ", "<!-- only a comment -->", "<safe>", "<cluster/>", "<safe/><safe/>", "text"} {
		_, err := ParseModule("AM", "u.xml", []byte(data), cl, nil)
		if _, ok := err.(*Error); !ok {
			t.Errorf("%q: err = %v (%T), want *Error", data, err, err)
		}
	}
}

func TestVIPNetworksAndResources(t *testing.T) {
	m, err := ParseModule("AM", "u.xml", moduleXML("", `<vip><interface_list>
<interface check="on"><virtual_interface type="vmac_invisible">
  <virtual_addr addr="198.18.5.7" check="on" netmask="16"/>
  <virtual_addr addr="[2001:db8:1:2:3::9]" check="on"/>
</virtual_interface></interface>
</interface_list></vip>
<errd><proc name="zeta"/><proc name="alpha" class="prim"/></errd>`), testCluster(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"intf.198.18.0.0", "intf.2001:db8:1:2::", "ip.198.18.5.7", "ip.2001:db8:1:2:3::9", "proc.alpha", "proc.zeta"}
	if got := m.Resources(); !reflect.DeepEqual(got, want) {
		t.Errorf("Resources = %q, want %q", got, want)
	}
	it := m.VIP.Interfaces[0]
	if it.Mode != ModeVMACInvisible || it.VMAC != "5a:fe:c6:12:05:07" {
		t.Errorf("vmac interface %+v", it)
	}
	if it.Addrs[1].Addr != netip.MustParseAddr("2001:db8:1:2:3::9") {
		t.Errorf("bracketed IPv6 VIP %v", it.Addrs[1].Addr)
	}
	if p := m.Errd.Procs; p[0].Class != "both" || p[1].Class != "prim" || p[0].AtLeast != 1 || p[0].Action != "restart" {
		t.Errorf("procs %+v", p)
	}
}

func TestNetmask(t *testing.T) {
	tests := []struct{ addr, mask, want string }{
		{"10.1.2.3", "", "10.1.2.0/24"},
		{"10.1.2.3", "255.255.0.0", "10.1.0.0/16"},
		{"10.1.2.3", "/20", "10.1.0.0/20"},
		{"10.1.2.3", "255.0.255.0", "error"},
		{"10.1.2.3", "33", "error"},
		{"2001:db8::1", "", "2001:db8::/64"},
		{"2001:db8::1", "48", "2001:db8::/48"},
		{"2001:db8::1", "255.255.255.0", "error"},
	}
	for _, tt := range tests {
		p, err := network(netip.MustParseAddr(tt.addr), tt.mask)
		got := "error"
		if err == nil {
			got = p.Masked().String()
		}
		if got != tt.want {
			t.Errorf("network(%s, %q) = %s (%v), want %s", tt.addr, tt.mask, got, err, tt.want)
		}
	}
}

func TestHostsAndWarnings(t *testing.T) {
	m, err := ParseModule("AM", "u.xml", moduleXML("", `<vip><interface_list>
<interface><virtual_interface><virtual_addr addr="198.18.0.100"/></virtual_interface></interface>
</interface_list><loadbalancing_list>
<group name="G"><cluster><host name="n2" power="3"/></cluster><rule proto="tcp" filter="on_addr"/></group>
</loadbalancing_list></vip>`), testCluster(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	hosts := m.VIP.Groups[0].Hosts
	if !reflect.DeepEqual(hosts, []Host{{"n1", 0}, {"n2", 3}}) {
		t.Errorf("hosts = %+v (want cluster order, unlisted node at power 0)", hosts)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Msg, `node "n1" is not in <cluster>`) || m.Warnings[0].Line != 4 {
		t.Errorf("warnings = %+v", m.Warnings)
	}
}

func TestValidateCatchesBrokenModel(t *testing.T) {
	cl := testCluster(t)
	m, err := ParseModule("AM", "u.xml", moduleXML("", ""), cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(cl); err != nil {
		t.Fatalf("parsed module: %v", err)
	}
	breakers := map[string]func(m *Module){
		"no LAN":         func(m *Module) { m.Farm.LANs = nil },
		"unknown LAN":    func(m *Module) { m.Farm.LANs = []string{"nope"} },
		"zero pulse":     func(m *Module) { m.Farm.Pulse = 0 },
		"no built-ins":   func(m *Module) { m.Failover.Rules = nil },
		"ghost resource": func(m *Module) { m.Failover.Rules[0].Cond = cmp("tcp.ghost", "down") },
		"bad boot":       func(m *Module) { m.Service.Boot = "sometimes" },
		"vip no addrs":   func(m *Module) { m.VIP = &VIP{Interfaces: []Interface{{Mode: ModeAlias}}} },
		"dup check": func(m *Module) {
			c := Check{Kind: CheckTCP, Ident: "x", Addr: "a", Port: 1, Interval: 1, Timeout: 1}
			m.Checks = []Check{c, c}
		},
		"custom no exec": func(m *Module) { m.Checks = []Check{{Kind: CheckCustom, Ident: "x", Interval: 1, Timeout: 1}} },
		"bad user":       func(m *Module) { m.User = &User{} },
	}
	for name, brk := range breakers {
		mm, _ := ParseModule("AM", "u.xml", moduleXML("", ""), cl, nil)
		brk(mm)
		if err := mm.Validate(cl); err == nil {
			t.Errorf("%s: Validate accepted a broken module", name)
		}
	}
}
