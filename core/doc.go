// Package core is vipfarm's pure, deterministic state machine: one module of
// one node. It reads no clock, opens no socket or file, starts no goroutine
// and draws no global randomness. Time enters only through Tick; everything
// else enters through Step; everything it wants done leaves through Ready.
//
// The driver loop (farmd and the simulator are two drivers of it):
//
//	n, _ := core.New(cfg)
//	n.Step(core.Boot{})             // process started
//	for {
//		select {
//		case <-ticker:  n.Tick()
//		case ev := <-events: n.Step(ev)   // commands, script exits, checker verdicts, heartbeats
//		}
//		if n.HasReady() {
//			rd := n.Ready()
//			// send rd.Messages, run rd.Scripts, kill rd.Kills, open/close the VIP,
//			// push rd.Tables to the dataplane, take or drop the ARP duty, write rd.Logs
//			n.Advance()
//		}
//	}
//
// Inside, a Node glues two halves: the module life cycle (states, scripts,
// failover rules, maxloop) and the farm membership (heartbeats, leader,
// bucket ownership per load-balancing group).
package core
