package config

import "time"

// SafeKit's defaults, in one place. Every value is what the SafeKit 8.2 user
// guide gives for a farm module (or, where it is silent, what vipfarm chose,
// said so below); the parser fills each absent attribute from here, so no
// consumer ever re-derives one.
const (
	// <service>
	DefaultBoot         = BootOff        // a module starts only when asked
	DefaultMaxLoop      = 3              // checker/script actions tolerated...
	DefaultLoopInterval = 24 * time.Hour // ...within this window, then stop

	// <farm>: a follower is offline after slost missed pulses (~1 s), a new
	// leader is chosen after mlost (~2 s).
	DefaultPulse      = 100 * time.Millisecond
	DefaultSlostCount = 10
	DefaultMlostCount = 20

	// <user>: each stop script gets nicestoptimeout, then its "force" run
	// gets forcestoptimeout.
	DefaultNiceStopTimeout  = 300 * time.Second
	DefaultForceStopTimeout = 300 * time.Second
	DefaultLogging          = "userlog"

	// <errd>
	DefaultPollTimer   = 30 * time.Second
	DefaultProcAtLeast = 1
	DefaultProcAction  = "restart"
	// The guide: class="prim" for a mirror module, class="both" for a farm
	// module (checked on every UP node), so a farm defaults to "both".
	DefaultProcClass = "both"

	// Checkers (<tcp>, <ping>, <intf>, <ip>): SafeKit's interval and a
	// timeout half of it (vipfarm's choice: a check must end before the next).
	DefaultCheckWhen     = "both"
	DefaultCheckInterval = 10 * time.Second
	DefaultCheckTimeout  = 5 * time.Second

	// <failover>: rules are evaluated every period; an action runs once its
	// condition held for handle_time.
	DefaultFailoverPeriod = 5 * time.Second
	DefaultHandleTime     = 15 * time.Second

	// <interface arpreroute="on">: the ARP holder repeats its gratuitous ARP
	// every arpinterval for arpelapse (vipfarm's choice when unset: every
	// 60 s for as long as it holds the VIP, 0 = unbounded).
	DefaultARPInterval = 60 * time.Second
	DefaultARPElapse   = 0
)

// Default checker actions when <tcp|ping|custom action> is absent: a failed
// TCP service or custom check restarts the application locally; a failed ping
// (the network beyond the node is gone) waits, as the guide's ping example.
// <intf> and <ip> take no action attribute: the built-in failover rules
// interface_failure (wait) and ip_failure (stopstart) react to them.
var defaultCheckAction = map[CheckKind]string{
	CheckTCP:    "restart",
	CheckPing:   "wait",
	CheckCustom: "restart",
}

// Defaults returns a farm module with every SafeKit default and nothing else:
// no VIP, no user scripts, no process monitoring, no checkers, and only the
// built-in failover rules. ParseModule starts from it.
func Defaults() Module {
	return Module{
		Macros: map[string]string{},
		Service: Service{
			Mode:         "farm",
			Boot:         DefaultBoot,
			MaxLoop:      DefaultMaxLoop,
			LoopInterval: DefaultLoopInterval,
		},
		Farm: Farm{
			Pulse:      DefaultPulse,
			SlostCount: DefaultSlostCount,
			MlostCount: DefaultMlostCount,
		},
		Failover: Failover{
			Period:     DefaultFailoverPeriod,
			HandleTime: DefaultHandleTime,
			Rules:      BuiltInRules(nil, nil),
		},
	}
}

// defaultUser is <user/> with no attribute.
func defaultUser() User {
	return User{
		NiceStopTimeout:  DefaultNiceStopTimeout,
		ForceStopTimeout: DefaultForceStopTimeout,
		Logging:          DefaultLogging,
	}
}
