package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// GroupName is the load-balancing group of the lab's module.
const GroupName = "FarmProto"

// Paths of one node's farmd files under the lab's state directory.
func (l *Lab) nodesDir() string           { return filepath.Join(l.Plan.Spec.StateDir, "nodes") }
func (l *Lab) NodeDir(node string) string { return filepath.Join(l.nodesDir(), node) }

// HomeDir is the farmd --home of node.
func (l *Lab) HomeDir(node string) string { return filepath.Join(l.NodeDir(node), "home") }

// VarDir is the farmd --state of node.
func (l *Lab) VarDir(node string) string { return filepath.Join(l.NodeDir(node), "var") }

// FarmdLog is where node's farmd writes its output.
func (l *Lab) FarmdLog(node string) string { return filepath.Join(l.NodeDir(node), "farmd.log") }

// TokenPath is the admin token shared by the lab's nodes.
func (l *Lab) TokenPath(node string) string { return filepath.Join(l.HomeDir(node), "admin.token") }

var clusterTmpl = template.Must(template.New("cluster").Parse(`<cluster>
  <lans port="{{.Port}}">
{{- range .LANs}}
    <lan name="{{.Name}}">
{{- range .Nodes}}
      <node name="{{.Name}}" addr="{{.Addr}}"/>
{{- end}}
    </lan>
{{- end}}
  </lans>
</cluster>
`))

var userconfigTmpl = template.Must(template.New("userconfig").Parse(`<!DOCTYPE safe>
<!-- Written by farmlab: the lab's farm module. The demo service answers on
     port {{.Port}} (TCP and UDP) of the VIP with the name of its node. -->
<safe>
<service mode="farm" boot="off">
  <farm{{if .Pulse}} pulse="{{.Pulse}}"{{end}}{{if .Slost}} slost_count="{{.Slost}}"{{end}}{{if .Mlost}} mlost_count="{{.Mlost}}"{{end}}>
{{- range .LANs}}
    <lan name="{{.}}"/>
{{- end}}
  </farm>
  <vip>
    <interface_list>
      <interface check="on">
        <virtual_interface>
          <virtual_addr addr="{{.VIP}}" where="alias" check="on"/>
{{- if .VIP6}}
          <virtual_addr addr="{{.VIP6}}" where="alias" check="on"/>
{{- end}}
        </virtual_interface>
      </interface>
    </interface_list>
    <loadbalancing_list>
      <group name="{{.Group}}">
{{- if .Hosts}}
        <cluster>
{{- range .Hosts}}
          <host name="{{.Name}}" power="{{.Power}}"/>
{{- end}}
        </cluster>
{{- end}}
        <rule port="{{.Port}}" proto="tcp" filter="{{.Filter}}"/>
        <rule port="{{.Port}}" proto="udp" filter="{{.Filter}}"/>
      </group>
    </loadbalancing_list>
  </vip>
  <user>
    <var name="LAB_FARMLAB" value="{{.Farmlab}}"/>
    <var name="LAB_PORT" value="{{.Port}}"/>
  </user>
</service>
</safe>
`))

// The scripts start and stop the demo service. The node name is written
// into them (each node's home is its own), so userconfig.xml stays the same
// on every node, as a farm module's must.
// failPreamble opens every script: `fail-script N SCRIPT [EXIT]` leaves a
// flag file holding EXIT (see FailScript), and the script's next run reads
// it, removes it and exits with it — one failing run, as in the simulator.
const failPreamble = `# farmlab fail-script: a flag file arms one failing run of this script.
flag=%q
if [ -f "$flag" ]; then
	code=$(cat "$flag"); rm -f "$flag"
	echo "farmlab fail-script: this run of $0 exits ${code:-1}"
	exit "${code:-1}"
fi
`

// The scripts start and stop the demo service. The node name, the farmlab
// binary and the port are written into them (each node's home is its own),
// so userconfig.xml stays the same on every node, as a farm module's must,
// and a module from a scenario's own userconfig.xml needs no <var> of ours.
const startScript = `#!/bin/sh
# start_both <current> <next> <action>: start the lab demo service.
%sNODE=%q
FARMLAB=%q
PORT=%d
dir="${SAFEUSERVAR:-$SAFEVAR}"
mkdir -p "$dir" || exit 1
rm -f "$dir/demo.pid"
"$FARMLAB" serve --name "$NODE" --port "$PORT" --pidfile "$dir/demo.pid" >>"$dir/demo.log" 2>&1 </dev/null &
# The pidfile appears once the service listens.
i=0
while [ ! -s "$dir/demo.pid" ]; do
	i=$((i+1))
	if [ $i -gt 100 ] || ! kill -0 $! 2>/dev/null; then
		"$SAFE/safekit" printe "start_both failed: demo service did not start (see $dir/demo.log)"
		exit 1
	fi
	sleep 0.05
done
exit 0
`

const stopScript = `#!/bin/sh
# %s [force] <current> <next> <action>: stop the lab demo service.
%sdir="${SAFEUSERVAR:-$SAFEVAR}"
pidfile="$dir/demo.pid"
[ -s "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
# Only a demo service: never signal a process that reused the PID.
if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q " serve --name "; then
	kill "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	kill -9 "$pid" 2>/dev/null
fi
rm -f "$pidfile"
exit 0
`

const poststopScript = `#!/bin/sh
# poststop: nothing to clean after the demo service.
%sexit 0
`

// Scripts are the module scripts the lab writes, in SPEC §3's order.
var Scripts = []string{"prestart", "start_both", "stop_both", "poststop"}

// FailFlag is the flag file that makes node's next run of script fail.
func (l *Lab) FailFlag(node, script string) string {
	return filepath.Join(l.HomeDir(node), "farmlab-fail", script)
}

// FailScript arms one failing run of node's script: its next run exits
// with code (1..255) before doing anything, as `fail-script` asks.
func (l *Lab) FailScript(node, script string, code int) error {
	if _, ok := l.Plan.NodeByName(node); !ok {
		return fmt.Errorf("lab: fail-script: no node called %q", node)
	}
	if !slices.Contains(Scripts, script) {
		return fmt.Errorf("lab: fail-script %s: want one of %v", script, Scripts)
	}
	if code < 1 || code > 255 {
		return fmt.Errorf("lab: fail-script %s %s: exit code %d, want 1..255", node, script, code)
	}
	p := l.FailFlag(node, script)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("lab: fail-script: %w", err)
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		return fmt.Errorf("lab: fail-script: %w", err)
	}
	return nil
}

// scriptFiles renders node's scripts.
func (l *Lab) scriptFiles(node string, farmlab string) map[string]string {
	pre := func(script string) string { return fmt.Sprintf(failPreamble, l.FailFlag(node, script)) }
	return map[string]string{
		"prestart":   fmt.Sprintf(stopScript, "prestart", pre("prestart")),
		"start_both": fmt.Sprintf(startScript, pre("start_both"), node, farmlab, l.Plan.Spec.ServicePort),
		"stop_both":  fmt.Sprintf(stopScript, "stop_both", pre("stop_both")),
		"poststop":   fmt.Sprintf(poststopScript, pre("poststop")),
	}
}

// HomeOptions tune the module written into each node's home.
type HomeOptions struct {
	Farmlab string // absolute path of the farmlab binary (the demo service)
	Filter  string // on_addr (default) or on_port
	// Farm overrides <farm> attributes (0 = SafeKit's default).
	Pulse                  time.Duration
	SlostCount, MlostCount int
	// Power gives the nodes' powers in the group (nil = every node 1).
	Power map[string]int
	// Userconfig, when set, is the module's userconfig.xml as given (a
	// scenario's `files:`): written as is instead of the lab's own, with
	// Filter and the <farm> fields above only describing it.
	Userconfig string
}

// WriteHomes writes every node's farmd home: cluster/cluster.xml,
// cluster/key (one random key for the farm), admin.token, and module
// Spec.Module with its userconfig.xml and scripts. The directory is recorded
// so Down removes it.
func (l *Lab) WriteHomes(o HomeOptions) error {
	if !filepath.IsAbs(o.Farmlab) {
		return fmt.Errorf("lab homes: farmlab path %q must be absolute", o.Farmlab)
	}
	if strings.ContainsAny(o.Farmlab, "\"'<>&$`\\") {
		return fmt.Errorf("lab homes: farmlab path %q holds characters that XML or sh would read specially", o.Farmlab)
	}
	if o.Filter == "" {
		o.Filter = "on_addr"
	}
	if o.Filter != "on_addr" && o.Filter != "on_port" {
		return fmt.Errorf("lab homes: filter %q: want on_addr or on_port", o.Filter)
	}
	if err := l.state.addFile(l.nodesDir()); err != nil {
		return err
	}
	cluster, err := l.ClusterXML()
	if err != nil {
		return err
	}
	userconfig := o.Userconfig
	if userconfig == "" {
		if userconfig, err = l.UserconfigXML(o); err != nil {
			return err
		}
	}
	key := randomHex(32)
	token := randomHex(32)
	for _, n := range l.Plan.Nodes {
		home := l.HomeDir(n.Name)
		mod := filepath.Join(home, "modules", l.Plan.Spec.Module)
		files := []struct {
			path string
			data string
			mode os.FileMode
		}{
			{filepath.Join(home, "cluster", "cluster.xml"), cluster, 0o644},
			{filepath.Join(home, "cluster", "key"), key + "\n", 0o600},
			{filepath.Join(home, "admin.token"), token + "\n", 0o600},
			{filepath.Join(mod, "conf", "userconfig.xml"), userconfig, 0o644},
		}
		scripts := l.scriptFiles(n.Name, o.Farmlab)
		for _, name := range Scripts {
			files = append(files, struct {
				path string
				data string
				mode os.FileMode
			}{filepath.Join(mod, "bin", name), scripts[name], 0o755})
		}
		for _, f := range files {
			if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
				return fmt.Errorf("lab home of %s: %w", n.Name, err)
			}
			if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
				return fmt.Errorf("lab home of %s: %w", n.Name, err)
			}
			// WriteFile keeps the mode of an existing file; the key and
			// token must be private whatever was there.
			if err := os.Chmod(f.path, f.mode); err != nil {
				return fmt.Errorf("lab home of %s: %w", n.Name, err)
			}
		}
		if err := os.MkdirAll(l.VarDir(n.Name), 0o755); err != nil {
			return fmt.Errorf("lab state dir of %s: %w", n.Name, err)
		}
	}
	return nil
}

// ClusterXML renders the lab's cluster.xml.
func (l *Lab) ClusterXML() (string, error) {
	type xnode struct{ Name, Addr string }
	type xlan struct {
		Name  string
		Nodes []xnode
	}
	data := struct {
		Port int
		LANs []xlan
	}{Port: l.Plan.Spec.HeartbeatPort}
	for i, lan := range l.Plan.Spec.LANs {
		xl := xlan{Name: lan}
		for _, n := range l.Plan.Nodes {
			xl.Nodes = append(xl.Nodes, xnode{n.Name, n.Addrs[i].String()})
		}
		data.LANs = append(data.LANs, xl)
	}
	var b strings.Builder
	if err := clusterTmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render cluster.xml: %w", err)
	}
	return b.String(), nil
}

// UserconfigXML renders the lab module's userconfig.xml.
func (l *Lab) UserconfigXML(o HomeOptions) (string, error) {
	if o.Filter == "" {
		o.Filter = "on_addr"
	}
	type host struct {
		Name  string
		Power int
	}
	data := struct {
		LANs                     []string
		VIP, VIP6, Group, Filter string
		Farmlab                  string
		Port                     int
		Pulse                    string
		Slost, Mlost             int
		Hosts                    []host
	}{LANs: l.Plan.Spec.LANs, VIP: l.Plan.VIP.String(), Group: GroupName, Filter: o.Filter, Farmlab: o.Farmlab,
		Port: l.Plan.Spec.ServicePort, Slost: o.SlostCount, Mlost: o.MlostCount}
	if o.Pulse > 0 {
		data.Pulse = o.Pulse.String()
	}
	if o.Power != nil {
		for name := range o.Power {
			if _, ok := l.Plan.NodeByName(name); !ok {
				return "", fmt.Errorf("lab homes: power of %q: no such node", name)
			}
		}
		for _, n := range l.Plan.Nodes {
			p, ok := o.Power[n.Name]
			if !ok {
				p = 1
			}
			if p < 0 {
				return "", fmt.Errorf("lab homes: power of %s is %d, want >= 0", n.Name, p)
			}
			data.Hosts = append(data.Hosts, host{n.Name, p})
		}
	}
	if l.Plan.VIP6.IsValid() {
		data.VIP6 = l.Plan.VIP6.String()
	}
	var b strings.Builder
	if err := userconfigTmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render userconfig.xml: %w", err)
	}
	return b.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux (getrandom)
	return hex.EncodeToString(b)
}
