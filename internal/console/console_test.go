package console

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	browser    = flag.Bool("browser", false, "also load the console in headless Chromium (needs the chromium package)")
	screenshot = flag.String("screenshot", "", "with -browser: write a PNG of the console to this path")
)

const testToken = "0123456789abcdef0123456789abcdef"

// farmNode is a real HTTP server answering the read-only API the way farmd
// does (ModuleView JSON, CORS for GETs and the POST preflight) and the
// actions with the admin token.
func farmNode(t *testing.T, mv ModuleView) *httptest.Server {
	t.Helper()
	if err := mv.Validate(); err != nil {
		t.Fatalf("test data: %v", err)
	}
	mux := http.NewServeMux()
	cors := func(w http.ResponseWriter) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
	}
	mux.HandleFunc("GET /api/v1/modules", func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode([]ModuleView{mv})
	})
	mux.HandleFunc("GET /api/v1/modules/{module}", func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		if r.PathValue("module") != mv.Module {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(mv)
	})
	mux.HandleFunc("OPTIONS /api/v1/modules/{module}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /api/v1/modules/{module}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// demoFarm is three nodes of module AM: node1 and node2 UP sharing
// FarmProto 128/128, node3 in WAIT on an interface failure.
func demoFarm() []ModuleView {
	owners := make([]string, Buckets)
	var own1, own2 []int
	for b := range Buckets {
		// A scattered split, as a real table looks after a few joins.
		if b*37%256 < 128 {
			owners[b], own1 = "node1", append(own1, b)
		} else {
			owners[b], own2 = "node2", append(own2, b)
		}
	}
	hb := func(d, p int64) map[string]int64 { return map[string]int64{"default": d, "private": p} }
	peers := func(self string) []PeerView {
		all := []PeerView{
			{Name: "node1", Alive: true, State: "UP", Ready: true, LastHeartbeatMs: hb(40, 60)},
			{Name: "node2", Alive: true, State: "UP", Ready: true, LastHeartbeatMs: hb(30, 70)},
			{Name: "node3", Alive: true, State: "WAIT", Ready: false, Rule: "interface_failure", LastHeartbeatMs: hb(50, 20)},
			{Name: "node4", Alive: false, State: "UP", Ready: true, LastHeartbeatMs: hb(-1, 41200)},
		}
		var out []PeerView
		for _, p := range all {
			if p.Name != self {
				out = append(out, p)
			}
		}
		return out
	}
	upRes := []ResourceView{{Name: "intf.198.18.0.0", State: "up"}, {Name: "ip.198.18.0.100", State: "up"}}
	upLog := func(n string) []string {
		return []string{
			"11-24 14:02:11 I Action start called by admin",
			"11-24 14:02:11 I Local state WAIT Transient",
			"11-24 14:02:12 I prestart done",
			"11-24 14:02:12 I Local state UP Transient",
			"11-24 14:02:12 I start_both done",
			"11-24 14:02:12 I Local state UP Ready",
			"11-24 14:02:14 I farm membership: node1 node2 node4 (group FarmProto)",
			"11-24 14:02:14 I farm load: 86/256",
			"11-24 14:05:40 I farm membership: node1 node2 (group FarmProto)",
			"11-24 14:05:41 I farm load: 128/256",
		}
	}
	return []ModuleView{
		{Node: "node1", Module: "AM", State: "UP", Ready: true, Resources: upRes,
			Groups: []GroupView{{Name: "FarmProto", Share: 50, Owned: own1, Owners: owners}}, Peers: peers("node1"), Log: upLog("node1")},
		{Node: "node2", Module: "AM", State: "UP", Ready: true, Resources: upRes,
			Groups: []GroupView{{Name: "FarmProto", Share: 50, Owned: own2, Owners: owners}}, Peers: peers("node2"), Log: upLog("node2")},
		{Node: "node3", Module: "AM", State: "WAIT", Ready: false, Rule: "interface_failure",
			Resources: []ResourceView{{Name: "intf.198.18.0.0", State: "down"}, {Name: "ip.198.18.0.100", State: "up"}},
			Groups:    []GroupView{{Name: "FarmProto", Share: 0, Owned: []int{}, Owners: owners}}, Peers: peers("node3"),
			Log: []string{
				"11-24 14:03:02 E resource intf.198.18.0.0 down",
				"11-24 14:03:17 I Action wait called by interface_failure",
				"11-24 14:03:17 I Local state UP Transient",
				"11-24 14:03:18 I stop_both done",
				"11-24 14:03:18 I Local state WAIT NotReady (interface_failure)",
			}},
	}
}

// demoSetup starts the three nodes, an address where nothing answers (a
// crashed node4) and the console listing all four.
func demoSetup(t *testing.T) (console *httptest.Server, peers []string) {
	for _, mv := range demoFarm() {
		peers = append(peers, farmNode(t, mv).URL)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	peers = append(peers, dead.URL)
	dead.Close() // node4 crashed: connection refused
	console = httptest.NewServer(Handler(Options{Peers: peers, Names: []string{"node1", "node2", "node3", "node4"}, Modules: []string{"AM"}, Title: "vipfarm lab"}))
	t.Cleanup(console.Close)
	return console, peers
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestServesPageAndAssets(t *testing.T) {
	console, peers := demoSetup(t)
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="console/console.js" defer></script>`},
		{"/console/console.js", "text/javascript; charset=utf-8", "function normalise(raw)"},
		{"/console/console.css", "text/css; charset=utf-8", "--green: #2e9e44"},
		{"/console/config.json", "application/json", `"poll_ms":1000`},
	} {
		resp, body := get(t, console.URL+tc.path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", tc.path, resp.Status)
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, p := range peers {
			if !strings.Contains(csp, " "+p) {
				t.Errorf("GET %s: CSP %q does not let the page reach %s", tc.path, csp, p)
			}
		}
		if !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: missing hardening headers: %v", tc.path, resp.Header)
		}
	}
	// The page's own files never come from elsewhere.
	_, page := get(t, console.URL+"/")
	if strings.Contains(page, "://") {
		t.Error("index.html references an absolute URL")
	}

	// What the page reads next: config.json, then every peer's ModuleView.
	_, body := get(t, console.URL+"/console/config.json")
	var cfg pageConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Peers, peers) || !reflect.DeepEqual(cfg.Modules, []string{"AM"}) || cfg.Title != "vipfarm lab" || cfg.Error != "" {
		t.Fatalf("config.json = %+v", cfg)
	}
	for i, p := range cfg.Peers[:3] {
		resp, body := get(t, p+"/api/v1/modules/AM")
		if resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("peer %d: no CORS header", i)
		}
		var mv ModuleView
		if err := json.Unmarshal([]byte(body), &mv); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		if err := mv.Validate(); err != nil {
			t.Errorf("peer %d: %v", i, err)
		}
		if !reflect.DeepEqual(mv, demoFarm()[i]) {
			t.Errorf("peer %d: ModuleView does not survive a JSON round trip", i)
		}
	}
}

func TestMethodsAndPaths(t *testing.T) {
	console, _ := demoSetup(t)
	resp, err := http.Post(console.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
	for _, p := range []string{"/index.html", "/console/", "/console/missing.js", "/api/v1/modules"} {
		if resp, _ := get(t, console.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
	req, _ := http.NewRequest(http.MethodHead, console.URL+"/console/console.js", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		t.Errorf("HEAD console.js: %s, length %d", resp.Status, resp.ContentLength)
	}
}

// TestMountedInMux: farmd mounts the console at "/" next to its API.
func TestMountedInMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/", Handler(Options{}))
	mux.HandleFunc("GET /api/v1/modules", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if _, body := get(t, srv.URL+"/api/v1/modules"); body != "[]" {
		t.Errorf("API shadowed by the console: %q", body)
	}
	_, body := get(t, srv.URL+"/console/config.json")
	if !strings.Contains(body, `"peers":[""],"names":[""]`) || !strings.Contains(body, `"modules":[]`) {
		t.Errorf("default config = %s, want the same origin and every module", body)
	}
}

func TestCSPSources(t *testing.T) {
	for peer, want := range map[string]string{
		"http://198.18.0.11:9010":     "http://198.18.0.11:9010",
		"https://node1.example:9443":  "https://node1.example:9443",
		"http://[2001:db8::11]:9010":  "http:",
		"https://[2001:db8::11]:9443": "https:",
	} {
		if got := cspSource(peer); got != want {
			t.Errorf("cspSource(%q) = %q, want %q", peer, got, want)
		}
	}
	srv := httptest.NewServer(Handler(Options{Peers: []string{"http://[2001:db8::11]:9010/"}}))
	defer srv.Close()
	resp, _ := get(t, srv.URL+"/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' http:;") {
		t.Errorf("CSP for an IPv6 peer = %q", csp)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		msg  string
	}{
		{Options{Peers: []string{"198.18.0.11:9010"}}, `peer 1 "198.18.0.11:9010"`},
		{Options{Peers: []string{"http://a:9010", "ftp://b"}}, `peer 2 "ftp://b"`},
		{Options{Peers: []string{"http://a:9010/api"}}, "admin base URL"},
		{Options{Modules: []string{"A/M"}}, `module name "A/M"`},
		{Options{PollMs: 50}, "poll period 50 ms: at least 200 ms"},
		{Options{Peers: []string{"http://a:9010"}, Names: []string{"a", "b"}}, "2 names for 1 peers"},
	} {
		err := tc.opts.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.opts, err, tc.msg)
			continue
		}
		// The handler still serves; the page shows the error.
		srv := httptest.NewServer(Handler(tc.opts))
		_, body := get(t, srv.URL+"/console/config.json")
		srv.Close()
		if !strings.Contains(body, `"error":`) {
			t.Errorf("config.json for %+v = %s, want the error", tc.opts, body)
		}
	}
	if err := (Options{Peers: []string{"http://198.18.0.11:9010/", "https://[2001:db8::1]:9010"}, Modules: []string{"AM"}, PollMs: 500}).Validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

func TestModuleViewValidate(t *testing.T) {
	good := demoFarm()[0]
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mut func(*ModuleView)
		msg string
	}{
		{func(m *ModuleView) { m.State = "RUNNING" }, `state "RUNNING"`},
		{func(m *ModuleView) { m.Module = "" }, "both are required"},
		{func(m *ModuleView) { m.Resources = []ResourceView{{Name: "x", State: "ok"}} }, `resource "x" state "ok"`},
		{func(m *ModuleView) { m.Groups[0].Owners = m.Groups[0].Owners[:10] }, "has 10 owners"},
		{func(m *ModuleView) { m.Groups[0].Owned = []int{3, 2} }, "owned bucket 2 at index 1"},
		{func(m *ModuleView) { m.Groups[0].Owned = []int{256} }, "owned bucket 256"},
		{func(m *ModuleView) { m.Groups[0].Share = 101 }, "share 101"},
		{func(m *ModuleView) { m.Peers[0].State = "" }, `peer "node2" state ""`},
	} {
		m := demoFarm()[0]
		tc.mut(&m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Validate = %v, want %q", err, tc.msg)
		}
	}
}

// TestPageReadsEveryField guards the contract: every JSON name of
// ModuleView must be read by console.js, or the struct and the page drifted.
func TestPageReadsEveryField(t *testing.T) {
	js, err := assets.ReadFile("assets/console.js")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map || ty.Kind() == reflect.Pointer {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			fld := ty.Field(i)
			name, _, _ := strings.Cut(fld.Tag.Get("json"), ",")
			if !strings.Contains(string(js), "."+name) {
				t.Errorf("console.js never reads %s.%s (json %q)", ty.Name(), fld.Name, name)
			}
			walk(fld.Type)
		}
	}
	walk(reflect.TypeOf(ModuleView{}))
}

func TestColour(t *testing.T) {
	for _, tc := range []struct {
		state string
		ready bool
		rule  string
		want  string
	}{
		{"UP", true, "", "green"}, {"UP", false, "", "orange"}, {"WAIT", false, "", "orange"},
		{"WAIT", false, "interface_failure", "red"}, {"WAIT", true, "", "red"}, {"STOP", true, "", "red"}, {"STOP", false, "", "red"},
	} {
		if got := Colour(tc.state, tc.ready, tc.rule); got != tc.want {
			t.Errorf("Colour(%s, %v, %q) = %s, want %s", tc.state, tc.ready, tc.rule, got, tc.want)
		}
	}
}

// TestScriptUnit runs the page's own unit test under Node.js when present.
func TestScriptUnit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the JavaScript unit test (testdata/console_test.js) is skipped")
	}
	out, err := exec.Command(node, filepath.Join("testdata", "console_test.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("console_test.js: %v\n%s", err, out)
	}
}

// TestBrowser loads the console in headless Chromium against the demo farm
// and checks the rendered cards (go test ./internal/console -run Browser
// -browser [-screenshot=docs/screenshots/console.png]).
func TestBrowser(t *testing.T) {
	if !*browser {
		t.Skip("pass -browser to load the console in headless Chromium")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	console, _ := demoSetup(t)
	run := func(extra ...string) string {
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--window-size=1400,900", "--virtual-time-budget=4000"}, extra...)
		args = append(args, console.URL+"/")
		cmd := exec.Command(bin, args...)
		var stdout strings.Builder
		cmd.Stdout = &stdout
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("chromium: %v", err)
			}
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			t.Fatal("chromium did not finish within 90 s")
		}
		return stdout.String()
	}
	dom := run("--dump-dom")
	for _, want := range []string{
		`<header class="st-green"><span class="node">node1</span><span class="state">UP</span>`,
		`<header class="st-green"><span class="node">node2</span>`,
		`<header class="st-red"><span class="node">node3</span><span class="state">WAIT</span>`,
		`WAIT on failover rule interface_failure`,
		`<header class="st-red"><span class="node">node4</span><span class="state">ERROR</span>`,
		`FarmProto 50%`,
		`farm load: 128/256`,
		`3/4 answering`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	if *screenshot != "" {
		path, err := filepath.Abs(*screenshot)
		if err != nil {
			t.Fatal(err)
		}
		run("--screenshot=" + path)
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Fatalf("screenshot %s not written: %v", path, err)
		}
		fmt.Println("screenshot:", path)
	}
}
