package scripts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

// TestMain turns this test binary into the recording script when it is run
// under a script's name: it writes its arguments and its exact environment
// to $SAFEUSERVAR/record-<name>.json and exits with $EXIT (a <var>).
func TestMain(m *testing.M) {
	if name := filepath.Base(os.Args[0]); Names[name] {
		rec := map[string]any{"args": os.Args[1:], "env": os.Environ()}
		b, _ := json.Marshal(rec)
		_ = os.WriteFile(filepath.Join(os.Getenv("SAFEUSERVAR"), "record-"+name+".json"), b, 0o644)
		os.Stdout.WriteString("hello from " + name + "\n")
		if os.Getenv("SLEEP") != "" {
			time.Sleep(time.Minute)
		}
		if os.Getenv("EXIT") == "3" {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type fixture struct {
	r    *Runner
	env  Env
	done chan Result
}

func newFixture(t *testing.T, vars ...config.Var) *fixture {
	t.Helper()
	home, state := t.TempDir(), t.TempDir()
	mod := &config.Module{Name: "AM", User: &config.User{Vars: vars}}
	env := ModuleEnv(home, state, "/opt/vf/bin", mod)
	if err := os.MkdirAll(env.SafeUserBin, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name := range Names {
		if err := os.Symlink(self, filepath.Join(env.SafeUserBin, name)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := env.List()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, done: make(chan Result, 8)}
	f.r = &Runner{BinDir: env.SafeUserBin, WorkDir: filepath.Dir(env.SafeUserBin), Env: list,
		Log: &UserLog{Dir: env.SafeUserVar}, Done: func(r Result) { f.done <- r }}
	return f
}

func (f *fixture) wait(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-f.done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("script did not end")
	}
	return Result{}
}

func TestScriptArgsAndExactEnvironment(t *testing.T) {
	t.Setenv("FARMD_SECRET", "must-not-leak")
	f := newFixture(t, config.Var{Name: "SERVICES", Value: "nginx redis"}, config.Var{Name: "EXIT", Value: "0"})
	if err := f.r.Start(core.ScriptRun{ID: 7, Name: "start_both", Args: [3]string{"STOP", "UP", "start"}}); err != nil {
		t.Fatal(err)
	}
	res := f.wait(t)
	if res.Done != (core.ScriptDone{ID: 7}) || res.Name != "start_both" || res.Missing {
		t.Fatalf("result %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(f.env.SafeUserVar, "record-start_both.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Args, Env []string }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Args, []string{"STOP", "UP", "start"}) {
		t.Errorf("args %q", rec.Args)
	}
	want := []string{
		"SAFE=" + f.env.Safe, "SAFEMODULE=AM", "SAFEBIN=/opt/vf/bin",
		"SAFEUSERBIN=" + f.env.SafeUserBin, "SAFEVAR=" + f.env.SafeVar, "SAFEUSERVAR=" + f.env.SafeUserVar,
		"PATH=/opt/vf/bin:" + DefaultPath, "SERVICES=nginx redis", "EXIT=0",
	}
	got := slices.Clone(rec.Env)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("environment\n got %q\nwant %q", got, want)
	}
	logb, err := os.ReadFile(f.r.Log.Path(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logb), "hello from start_both") || !strings.Contains(string(logb), "start_both exit 0") {
		t.Errorf("script log lacks output or exit line:\n%s", logb)
	}
}

func TestScriptExitCode(t *testing.T) {
	f := newFixture(t, config.Var{Name: "EXIT", Value: "3"})
	if err := f.r.Start(core.ScriptRun{ID: 1, Name: "stop_both", Args: [3]string{"UP", "STOP", "stop"}}); err != nil {
		t.Fatal(err)
	}
	if res := f.wait(t); res.Done.ExitCode != 3 || res.Done.Killed {
		t.Fatalf("result %+v, want exit 3", res.Done)
	}
}

func TestKillEndsTheProcessGroup(t *testing.T) {
	f := newFixture(t, config.Var{Name: "SLEEP", Value: "1"})
	if err := f.r.Start(core.ScriptRun{ID: 2, Name: "stop_both", Args: [3]string{"UP", "STOP", "stop"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.r.Running() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.r.Kill(2); err != nil {
		t.Fatal(err)
	}
	res := f.wait(t)
	if !res.Done.Killed || res.Done.ExitCode == 0 {
		t.Fatalf("result %+v, want killed", res.Done)
	}
	if err := f.r.Kill(2); err != nil {
		t.Fatalf("kill of an ended script: %v", err)
	}
}

func TestMissingScriptIsSuccess(t *testing.T) {
	f := newFixture(t)
	if err := os.Remove(filepath.Join(f.env.SafeUserBin, "prestart")); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Start(core.ScriptRun{ID: 3, Name: "prestart", Args: [3]string{"STOP", "UP", "start"}}); err != nil {
		t.Fatal(err)
	}
	if res := f.wait(t); !res.Missing || res.Done.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	logb, _ := os.ReadFile(f.r.Log.Path(time.Now()))
	if !strings.Contains(string(logb), "no script") {
		t.Errorf("no log line for the missing script: %q", logb)
	}
}

func TestUnknownScriptRefused(t *testing.T) {
	f := newFixture(t)
	if err := f.r.Start(core.ScriptRun{ID: 4, Name: "../../bin/sh"}); err == nil {
		t.Fatal("unknown script name accepted")
	}
}

func TestBadVarRefused(t *testing.T) {
	for _, v := range []config.Var{{Name: "PATH", Value: "/x"}, {Name: "A-B", Value: "1"}, {Name: "SAFE", Value: "/"}} {
		e := Env{Vars: []config.Var{v}}
		if _, err := e.List(); err == nil || !strings.Contains(err.Error(), v.Name) {
			t.Errorf("var %q: error %v", v.Name, err)
		}
	}
}

func TestUserLogRotates(t *testing.T) {
	day := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	l := &UserLog{Dir: t.TempDir(), MaxBytes: 100, Now: func() time.Time { return day }}
	for range 10 {
		if err := l.Printf("%s", strings.Repeat("x", 30)); err != nil {
			t.Fatal(err)
		}
	}
	p := l.Path(day)
	if filepath.Base(p) != "userlog_2026-11-24.ulog" {
		t.Fatalf("name %s", p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 100+80 {
		t.Errorf("current log %d bytes, not rotated", fi.Size())
	}
	if _, err := os.Stat(p + ".1"); err != nil {
		t.Errorf("no rotated file: %v", err)
	}
}

func TestLoggingNoneDiscards(t *testing.T) {
	f := newFixture(t)
	f.r.Log.Discard = true
	if err := f.r.Start(core.ScriptRun{ID: 9, Name: "start_both", Args: [3]string{"STOP", "UP", "start"}}); err != nil {
		t.Fatal(err)
	}
	if res := f.wait(t); res.Done.ExitCode != 0 {
		t.Fatalf("%+v", res)
	}
	if _, err := os.Stat(f.r.Log.Path(time.Now())); err == nil {
		t.Error("a script log was written with logging=none")
	}
}
