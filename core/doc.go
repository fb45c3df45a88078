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
//
// # Module life cycle
//
// The module half follows SafeKit's farm module. Its states are STOP, WAIT
// and UP, each ready or transient:
//
//	STOP ready --start--> [WAIT transient: a resource the wait rules read is init]
//	     --> UP transient: prestart, VIP open, start_both --> UP ready, Member
//	     (a wait rule already holding: WAIT not ready (rule) at once, no script)
//	UP ready --stop--> UP transient: Member=false, wait drained, stop_both,
//	     VIP close, poststop --> STOP ready
//	UP ready --wait rule--> (the same stop) --> WAIT not ready (rule)
//	     --Implicit_wakeup, no wait rule holds for handle_time--> start
//	UP ready --restart--> UP transient: stop_both, start_both --> UP ready
//	     (VIP open and Member throughout: no bucket moves)
//	UP ready --stopstart--> the stop, STOP transient, then the start
//
// A failed prestart or start_both turns the start into a stop ending STOP
// ready; a stop undoes only what was done. A stop script running past
// nicestoptimeout is killed and run again with "force"; past
// forcestoptimeout it is killed and the sequence goes on — each time once
// the killed script's end is reported, so one script runs at a time. A
// command arriving meanwhile waits for the running step to end. Failover
// rules are evaluated every period and fire after holding for handle_time;
// a checker's own action fires at its down report. Identified actions beyond
// maxloop within loop_interval stop the module.
package core
