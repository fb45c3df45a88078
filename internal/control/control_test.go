package control

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/view"
	"github.com/vipfarm/vipfarm/internal/view/viewtest"
)

func startServer(t *testing.T) (*viewtest.Farm, string) {
	t.Helper()
	farm := viewtest.New("node1",
		view.Module{Name: "AM", State: "UP", Ready: true, Resources: []view.Resource{{Name: "custom.x", State: "up"}}},
		view.Module{Name: "BM", State: "STOP"})
	s := &Server{Farm: farm, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowUID: os.Getuid()}
	path := filepath.Join(t.TempDir(), "farmd.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return farm, path
}

func call(t *testing.T, path string, req Request) (Response, error) {
	t.Helper()
	return Call(path, req, 5*time.Second)
}

func TestSocketModeIs0600(t *testing.T) {
	_, path := startServer(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestSecondListenerRefused(t *testing.T) {
	_, path := startServer(t)
	s := &Server{}
	if err := s.Listen(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second listen: %v", err)
	}
}

func TestCommandsReachTheFarm(t *testing.T) {
	farm, path := startServer(t)
	for _, req := range []Request{
		{Verb: "start", Module: "AM"},
		{Verb: "stop", Module: "AM", Ident: "start_both"},
		{Verb: "boot", Module: "BM", Value: "on"},
		{Verb: "set", Module: "AM", Resource: "custom.x", Value: "down"},
		{Verb: "printe", Module: "AM", Message: "start_both failed"},
	} {
		if _, err := call(t, path, req); err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
	}
	cmds, sets, prints := farm.Calls()
	if want := []string{"AM start ", "AM stop start_both", "BM boot-on "}; !slices.Equal(cmds, want) {
		t.Errorf("commands %q, want %q", cmds, want)
	}
	if want := []string{"AM custom.x down"}; !slices.Equal(sets, want) {
		t.Errorf("sets %q", sets)
	}
	if want := []string{"AM error start_both failed"}; !slices.Equal(prints, want) {
		t.Errorf("prints %q", prints)
	}
	resp, err := call(t, path, Request{Verb: "log", Module: "AM", Lines: 1})
	if err != nil || !slices.Equal(resp.Lines, []string{"start_both failed"}) {
		t.Errorf("log: %v %q", err, resp.Lines)
	}
}

func TestStateGetStatus(t *testing.T) {
	_, path := startServer(t)
	resp, err := call(t, path, Request{Verb: "state", Module: "AM"})
	if err != nil || resp.Module == nil || resp.Module.State != "UP" {
		t.Fatalf("state: %v %+v", err, resp)
	}
	resp, err = call(t, path, Request{Verb: "get", Module: "AM", Resource: "custom.x"})
	if err != nil || resp.Value != "up" {
		t.Fatalf("get: %v %+v", err, resp)
	}
	resp, err = call(t, path, Request{Verb: "status"})
	if err != nil || len(resp.Modules) != 2 || resp.Modules[1].Name != "BM" {
		t.Fatalf("status: %v %+v", err, resp)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	_, path := startServer(t)
	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{Verb: "start"}, "-m MODULE"},
		{Request{Verb: "start", Module: "ZZ"}, "ZZ"},
		{Request{Verb: "frobnicate", Module: "AM"}, "frobnicate"},
		{Request{Verb: "set", Module: "AM", Resource: "custom.x", Value: "sideways"}, "sideways"},
		{Request{Verb: "boot", Module: "AM", Value: "maybe"}, "maybe"},
		{Request{Verb: "get", Module: "AM", Resource: "tcp.nope"}, "tcp.nope"},
	} {
		if _, err := call(t, path, c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to name %q", c.req, err, c.want)
		}
	}
}

func TestNoDaemon(t *testing.T) {
	_, err := Call(filepath.Join(t.TempDir(), "none.sock"), Request{Verb: "status"}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "is farmd running") {
		t.Fatalf("error %v", err)
	}
}
