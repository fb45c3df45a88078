// Command farmlab builds vipfarm's network-namespace lab on this machine and
// runs a real farm in it (SPEC §7): a switch namespace with a bridge per
// LAN, node namespaces each running farmd and the demo service, client
// namespaces; all on 198.18.0.0/15, removed again by `farmlab down`.
//
//	farmlab up [--nodes 3] [--clients 2] [--lans default,private] [--no-farmd]
//	farmlab down
//	farmlab status [--json]
//	farmlab exec NODE|CLIENT -- CMD...
//	farmlab probe [--proto tcp|udp] [-6]        (who serves each client address)
//	farmlab do 'stop node2' 'isolate node1|node2,node3' heal   (scenario step verbs)
//	farmlab run [--trace F] SCENARIO.yaml...    (farmsim's scenarios, in real time; docs/lab.md)
//	farmlab bench [--json]                      (failover gaps, planned-stop resets)
//	farmlab serve --name NODE [--port 9000]     (the demo service)
//
// Exit status: 0 ok, 1 failure, 2 bad usage; `run` also exits 0 for a
// scenario this kernel cannot host (a delay without sch_netem), printed as
// SKIPPED with the reason.
package main

import (
	"fmt"
	"os"

	"github.com/vipfarm/vipfarm/netlab"
)

const usage = `usage:
  farmlab up [--nodes N] [--clients N] [--lans a,b] [--no-farmd] [--farmd PATH] [--filter on_addr|on_port]
  farmlab down
  farmlab status [--json]
  farmlab exec NODE|CLIENT -- CMD [ARG...]
  farmlab probe [--proto tcp|udp] [-6] [--clients c1,c2] [--json]
  farmlab do 'VERB ARGS'...    (scenario step verbs: start|stop|restart|stopstart|crash|reboot N,
                                isolate A,B|C, heal, cut LAN [A|B|N], restore LAN, loss LAN PCT,
                                delay LAN D, resource N NAME up|down, fail-script N SCRIPT [EXIT])
  farmlab run [--keep] [--trace FILE] SCENARIO.yaml...   (farmsim scenario files, in real time on a lab of their own;
                                          exit 0 ok or skipped, 1 failed, 2 bad input)
  farmlab bench [--json] [--hold 3s]       (SPEC §9 figures on the running lab)
  farmlab serve --name NODE [--port 9000] [--pidfile FILE]
every command but serve takes --state DIR (default /run/vipfarm-lab) and --prefix P (default vf-);
run's own labs default to --state /run/vipfarm-lab-run --prefix vf-run-, beside a lab of up
`

func main() {
	netlab.RunShimIfAsked()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cmds := map[string]func([]string) int{
		"up":     cmdUp,
		"down":   cmdDown,
		"status": cmdStatus,
		"exec":   cmdExec,
		"serve":  cmdServe,
		"probe":  cmdProbe,
		"do":     cmdDo,
		"run":    cmdRun,
		"bench":  cmdBench,
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(usage)
		return 0
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "farmlab: unknown command %q\n%s", args[0], usage)
		return 2
	}
	return f(args[1:])
}

// fail prints an error and returns the failure status.
func fail(err error) int {
	fmt.Fprintf(os.Stderr, "farmlab: %v\n", err)
	return 1
}
