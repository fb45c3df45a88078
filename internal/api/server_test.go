package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/internal/console"
	"github.com/vipfarm/vipfarm/internal/metrics"
	"github.com/vipfarm/vipfarm/internal/view"
	"github.com/vipfarm/vipfarm/internal/view/viewtest"
)

const token = "0123456789abcdef0123456789abcdef"

func newServer(t *testing.T) (*viewtest.Farm, *httptest.Server) {
	t.Helper()
	farm := viewtest.New("node1",
		view.Module{Name: "AM", State: "UP", Ready: true, Groups: []view.Group{{Name: "FarmProto", Buckets: 128, Share: 50}}},
		view.Module{Name: "BM", State: "UP", Ready: false},
		view.Module{Name: "CM", State: "STOP", Ready: true})
	m := metrics.New()
	m.HBRejected.WithLabelValues("AM", "default", "forged").Inc()
	srv := httptest.NewServer(New(farm, []byte(token), m.Registry, slog.New(slog.NewTextHandler(io.Discard, nil)),
		console.Handler(console.Options{})))
	t.Cleanup(srv.Close)
	return farm, srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadyTxt(t *testing.T) {
	_, srv := newServer(t)
	for _, c := range []struct {
		mod  string
		code int
		body string
	}{{"AM", 200, "OK"}, {"BM", 404, "NOT FOUND"}, {"CM", 404, "NOT FOUND"}, {"ZZ", 404, "NOT FOUND"}} {
		code, body := get(t, srv.URL+"/var/modules/"+c.mod+"/ready.txt")
		if code != c.code || body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.mod, code, body, c.code, c.body)
		}
	}
}

func TestModulesJSON(t *testing.T) {
	_, srv := newServer(t)
	code, body := get(t, srv.URL+"/api/v1/modules")
	var mods []view.Module
	if code != 200 || json.Unmarshal([]byte(body), &mods) != nil || len(mods) != 3 {
		t.Fatalf("%d %s", code, body)
	}
	code, body = get(t, srv.URL+"/api/v1/modules/AM")
	var m view.Module
	if code != 200 || json.Unmarshal([]byte(body), &m) != nil || m.Groups[0].Buckets != 128 {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := get(t, srv.URL+"/api/v1/modules/ZZ"); code != 404 {
		t.Errorf("unknown module: %d", code)
	}
}

func post(t *testing.T, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestMutatingCallsNeedTheToken(t *testing.T) {
	farm, srv := newServer(t)
	u := srv.URL + "/api/v1/modules/AM/stop"
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token[:10]} {
		if code := post(t, u, auth); code != 401 {
			t.Errorf("auth %q: %d, want 401", auth, code)
		}
	}
	if cmds, _, _ := farm.Calls(); len(cmds) != 0 {
		t.Fatalf("unauthorized call reached the farm: %q", cmds)
	}
	if code := post(t, u, "Bearer "+token); code != 202 {
		t.Fatalf("authorized stop: %d", code)
	}
	if code := post(t, srv.URL+"/api/v1/modules/AM/explode", "Bearer "+token); code != 404 {
		t.Errorf("unknown verb: %d", code)
	}
	if code := post(t, srv.URL+"/api/v1/modules/ZZ/start", "Bearer "+token); code != 404 {
		t.Errorf("unknown module: %d", code)
	}
	if cmds, _, _ := farm.Calls(); !slices.Equal(cmds, []string{"AM stop "}) {
		t.Errorf("commands %q", cmds)
	}
}

// TestConsoleReadsTheAPI: the web console's page reads this API's JSON as
// its ModuleView; the API answers its cross-origin requests.
func TestConsoleReadsTheAPI(t *testing.T) {
	farm, srv := newServer(t)
	farm.Put(view.Module{Name: "AM", Node: "node1", State: "UP", Ready: true,
		Resources: []view.Resource{{Name: "ip.198.18.0.100", State: "up"}},
		Groups:    []view.Group{{Name: "FarmProto", Buckets: 2, Share: 1, Owned: []int{3, 7}, Owners: make([]string, 256)}},
		Peers:     []view.Peer{{Name: "node2", Alive: true, State: "UP", LastHeartbeatMs: map[string]int64{"default": 40}}},
		Log:       []string{"Local state UP Ready"}})
	resp, err := http.Get(srv.URL + "/api/v1/modules/AM")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header on the API")
	}
	var mv console.ModuleView
	if err := json.NewDecoder(resp.Body).Decode(&mv); err != nil {
		t.Fatal(err)
	}
	if err := mv.Validate(); err != nil {
		t.Fatalf("the console cannot draw the API's answer: %v", err)
	}
	if mv.Module != "AM" || mv.Groups[0].Owned[1] != 7 || mv.Peers[0].LastHeartbeatMs["default"] != 40 || mv.Log[0] != "Local state UP Ready" {
		t.Errorf("console view %+v", mv)
	}
	req, _ := http.NewRequest("OPTIONS", srv.URL+"/api/v1/modules/AM/stop", nil)
	req.Header.Set("Origin", "http://198.18.0.12:9010")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 204 || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	if cmds, _, _ := farm.Calls(); len(cmds) != 0 {
		t.Errorf("a preflight acted: %q", cmds)
	}
	if code, body := get(t, srv.URL+"/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("console page: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	_, srv := newServer(t)
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, `vipfarm_heartbeats_rejected_total{lan="default",module="AM",reason="forged"} 1`) {
		t.Fatalf("%d\n%s", code, body)
	}
}

func TestLoadToken(t *testing.T) {
	p := filepath.Join(t.TempDir(), "admin.token")
	tok, err := LoadToken(p)
	if err != nil || len(tok) != 64 {
		t.Fatalf("generate: %v %q", err, tok)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	again, err := LoadToken(p)
	if err != nil || string(again) != string(tok) {
		t.Errorf("reload: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadToken(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token accepted: %v", err)
	}
}
