// Package netlab is farmlab's network-namespace lab: it builds, on this
// machine, a small farm of namespaces joined by veth pairs and Linux bridges,
// all on 198.18.0.0/15, and tears it down again — also after a crash of the
// process that built it.
//
// The topology, for nodes node1..nodeN, clients client1..clientM and LANs
// l0 (the client LAN, "default") .. lK:
//
//	namespace PREFIXsw: one bridge br-<lan> per LAN; every port is the
//	switch-side end of a veth pair and carries an XDP_PASS program, because
//	a frame XDP_TXed by a node's veth is only delivered when its peer can
//	receive XDP frames (see NOTES.md).
//	namespace PREFIXnodeK: eth<i> on LAN i, address 198.18.i.(10+K)/24
//	(IPv6 fd00:198:18:i::(10+K)/64), a route to the clients' extra sources.
//	namespace PREFIXclientJ: eth0 on LAN 0, address 198.18.0.(200+J)/24
//	plus many extra source addresses 198.19.J.1.. for on_addr spreading;
//	tx checksum offload off (locally built checksums survive XDP_TX).
//
// Every namespace, link, process and file the lab makes is recorded in a
// state file (StateDir/state.json) before or as it is made, so Down removes
// exactly that; Down also finds namespaces by the lab's name pattern when
// the state file is missing or stale.
//
// Faults are applied on the switch: a cut sets a node's switch port down
// (the node sees carrier loss, as with a pulled cable); a partition and
// packet loss are a small cls_bpf program on the egress of switch ports
// (this kernel has neither sch_netem nor cls_flower, see faults.go).
//
// On top of the topology (files named after each concept):
//
//	farmhome.go, farm.go  each node's farmd home (cluster.xml, key, module AM
//	                      with the VIP, TCP+UDP rules and demo-service
//	                      scripts), farmd started in its namespace, its HTTP
//	                      API read and driven from inside that namespace
//	traffic.go, sweep.go  client probes: which node answered each client
//	                      source address (the demo service, netlab/demo)
//	verbs.go              Do: the scenario step verbs (start, crash,
//	                      isolate, cut, loss, resource ...) on the real lab
//	observe.go            the daemons' tables and the lab's connectivity as
//	                      observations for sim/invariant's checkers
//	scenario.go, run.go   farmsim's scenario files played in real time
//	scenariofiles.go      `files:` scenarios: the lab built from their
//	                      cluster.xml, their userconfig.xml run as written
//	trace.go, xdpmaps.go  the run's JSON Lines trace in farmsim's shape, the
//	                      owned sets read from each node's XDP maps
//	bench.go              failover gaps and planned-stop resets (SPEC §9)
//
// Only netlink (vishvananda/netlink), netns, ioctl and bpf system calls are
// used: the lab never shells out to ip, tc or ethtool.
package netlab
