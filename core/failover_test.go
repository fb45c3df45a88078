package core

import (
	"testing"

	"github.com/vipfarm/vipfarm/core/config"
)

func TestFailoverEval(t *testing.T) {
	res := newResources([]string{"intf.198.18.0.0", "intf.198.18.1.0", "ip.198.18.0.100", "custom.app"})
	set := func(name string, st ResourceState) {
		i, _ := res.lookup(name)
		res.states[i] = st
	}
	set("intf.198.18.0.0", ResUp)
	set("intf.198.18.1.0", ResDown)
	set("ip.198.18.0.100", ResUp)
	// custom.app stays init
	cmp := func(r, v string) config.Expr { return config.Cmp{Resource: r, Value: v} }
	ne := func(r, v string) config.Expr { return config.Cmp{Resource: r, Value: v, Neg: true} }
	tests := []struct {
		name string
		e    config.Expr
		want bool
	}{
		{"any down", cmp("intf.?", "down"), true},
		{"every down", cmp("intf.*", "down"), false},
		{"every up", cmp("ip.*", "up"), true},
		{"any not up", ne("intf.?", "up"), true},
		{"every not down", ne("intf.*", "down"), false},
		{"exact", cmp("custom.app", "init"), true},
		{"exact neg", ne("custom.app", "init"), false},
		{"init is neither up nor down", config.Or{L: cmp("custom.app", "up"), R: cmp("custom.app", "down")}, false},
		{"kind without resource: ?", cmp("tcp.?", "down"), false},
		{"kind without resource: *", cmp("tcp.*", "down"), false},
		{"kind without resource: * !=", ne("tcp.*", "up"), false},
		{"unpublished resource", cmp("tcp.web", "down"), false},
		{"not", config.Not{X: cmp("intf.?", "down")}, false},
		{"and", config.And{L: cmp("intf.?", "down"), R: cmp("ip.?", "up")}, true},
		{"and false", config.And{L: cmp("intf.?", "down"), R: cmp("ip.?", "down")}, false},
		{"or", config.Or{L: cmp("ip.?", "down"), R: cmp("intf.?", "down")}, true},
		{"pointer nodes", &config.Not{X: &config.Cmp{Resource: "ip.?", Value: "down"}}, true},
		{"kind is up to the first dot", cmp("ip.?", "up"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkExpr(tc.e); err != nil {
				t.Fatalf("checkExpr: %v", err)
			}
			if got := eval(tc.e, res); got != tc.want {
				t.Fatalf("eval = %v, want %v", got, tc.want)
			}
		})
	}
	for _, bad := range []config.Expr{nil, (*config.Cmp)(nil), config.Cmp{Value: "up"}, config.Not{X: cmp("ip.?", "bogus")}, config.And{L: cmp("ip.?", "up")}} {
		if err := checkExpr(bad); err == nil {
			t.Errorf("checkExpr(%#v): no error", bad)
		}
	}
}

func TestFailoverHandleTime(t *testing.T) {
	res := newResources([]string{"ip.198.18.0.100"})
	cfg := &Config{TickMs: 1000, Module: &config.Module{Failover: config.Failover{
		Period: 5e9, HandleTime: 15e9,
		Rules: []config.FailoverRule{{Label: "r", Cond: config.Cmp{Resource: "ip.?", Value: "down"}, Action: "stop"}},
	}}}
	f, err := newFailover(cfg, res)
	if err != nil {
		t.Fatal(err)
	}
	res.states[0] = ResDown
	always := func(a action) bool { return a == actStop } // UP ready: no wake-up
	var fired []int64
	for now := int64(0); now <= 40; now += f.periodTicks {
		if r := f.evaluate(now, res, always); r != nil {
			fired = append(fired, now)
		}
	}
	// Held at 0, 5, 10, 15: fires at 15; the hold starts again at 20, fires at 35.
	if len(fired) != 2 || fired[0] != 15 || fired[1] != 35 {
		t.Fatalf("fired at %v, want [15 35]", fired)
	}
	// An action the module cannot take in its state does not hold.
	never := func(action) bool { return false }
	for now := int64(45); now <= 100; now += f.periodTicks {
		if r := f.evaluate(now, res, never); r != nil {
			t.Fatalf("fired at %d while the module could not act", now)
		}
	}
}
