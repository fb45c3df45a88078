package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed assets/index.html assets/console.css assets/console.js
var assets embed.FS

// Options configures the console.
type Options struct {
	// Peers are the admin base URLs of every node of the farm, this one
	// included, in cluster.xml order (e.g. "http://198.18.0.11:9010"). Empty:
	// only the node serving the page (same origin).
	Peers []string
	// Names are the node names of Peers, in the same order (optional). They
	// title the card of a node that does not answer, which otherwise only
	// shows its address.
	Names []string
	// Modules are the modules to show (e.g. "AM"). Empty: every module that
	// some peer lists at GET /api/v1/modules.
	Modules []string
	// PollMs is the polling period of the page; 0 means 1000. At least 200,
	// so a forgotten browser tab cannot load the farm.
	PollMs int
	// Title heads the page; "" means "vipfarm".
	Title string
}

// minPollMs bounds how often each open page asks every node.
const minPollMs = 200

// Validate reports the first option the page could not work with.
func (o Options) Validate() error {
	for i, p := range o.Peers {
		u, err := url.Parse(p)
		if err != nil {
			return fmt.Errorf("console: peer %d %q: %w", i+1, p, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
			return fmt.Errorf("console: peer %d %q: want an admin base URL like http://198.18.0.11:9010", i+1, p)
		}
	}
	if len(o.Names) != 0 && len(o.Names) != len(o.Peers) {
		return fmt.Errorf("console: %d names for %d peers: give one name per peer or none", len(o.Names), len(o.Peers))
	}
	for _, m := range o.Modules {
		if m == "" || strings.ContainsAny(m, "/?#%") {
			return fmt.Errorf("console: module name %q: want a module directory name like AM", m)
		}
	}
	if o.PollMs != 0 && o.PollMs < minPollMs {
		return fmt.Errorf("console: poll period %d ms: at least %d ms", o.PollMs, minPollMs)
	}
	return nil
}

// pageConfig is console/config.json, what the page reads before polling.
type pageConfig struct {
	Title   string   `json:"title"`
	Peers   []string `json:"peers"` // "" = same origin
	Names   []string `json:"names"` // node name per peer, "" when unknown
	Modules []string `json:"modules"`
	PollMs  int      `json:"poll_ms"`
	Error   string   `json:"error,omitempty"` // invalid options: the page shows it
}

type handler struct {
	files  map[string]asset
	config []byte
	csp    string
}

type asset struct {
	body        []byte
	contentType string
}

// Handler serves the console: the page at "/" and its files under
// "/console/". Mount it at the root of the admin server; more specific routes
// (the API, /metrics, ready.txt) take precedence in a ServeMux. Invalid
// options do not panic: the page loads and shows what is wrong.
func Handler(opts Options) http.Handler {
	cfg := pageConfig{Title: opts.Title, Modules: opts.Modules, PollMs: opts.PollMs}
	if cfg.Title == "" {
		cfg.Title = "vipfarm"
	}
	if cfg.PollMs == 0 {
		cfg.PollMs = 1000
	}
	if cfg.Modules == nil {
		cfg.Modules = []string{}
	}
	connect := []string{"'self'"}
	if err := opts.Validate(); err != nil {
		cfg.Error = err.Error()
		cfg.Peers, cfg.Names = []string{}, []string{}
	} else {
		cfg.Names = opts.Names
		for _, p := range opts.Peers {
			p = strings.TrimRight(p, "/")
			cfg.Peers = append(cfg.Peers, p)
			connect = append(connect, cspSource(p))
		}
		if len(cfg.Peers) == 0 {
			cfg.Peers = []string{""}
		}
		if len(cfg.Names) == 0 {
			cfg.Names = make([]string, len(cfg.Peers))
		}
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		// A struct of strings and ints always marshals; keep the page alive anyway.
		conf = []byte(`{"error":"console: cannot encode its configuration"}`)
	}
	h := &handler{
		files: map[string]asset{},
		// No inline script or style, no frames (the buttons must not be
		// clickjacked), and the page may talk to the farm's nodes only.
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " +
			strings.Join(connect, " ") + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		config: conf,
	}
	for path, file := range map[string]struct{ name, ctype string }{
		"/":                    {"assets/index.html", "text/html; charset=utf-8"},
		"/console/console.css": {"assets/console.css", "text/css; charset=utf-8"},
		"/console/console.js":  {"assets/console.js", "text/javascript; charset=utf-8"},
	} {
		b, err := assets.ReadFile(file.name)
		if err != nil {
			b = []byte("console asset missing: " + file.name)
		}
		h.files[path] = asset{body: b, contentType: file.ctype}
	}
	return h
}

// cspSource is the Content-Security-Policy source that lets the page reach
// peer. CSP host sources cannot name an IPv6 literal, so such a peer opens
// its whole scheme instead (still no inline script, no frames).
func cspSource(peer string) string {
	u, err := url.Parse(peer)
	if err != nil {
		return peer // unreachable: Validate parsed it
	}
	if strings.Contains(u.Hostname(), ":") {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "console: method "+r.Method+" not allowed (the console is read-only; actions go to /api/v1)", http.StatusMethodNotAllowed)
		return
	}
	var body []byte
	var ctype string
	if r.URL.Path == "/console/config.json" {
		body, ctype = h.config, "application/json"
	} else if a, ok := h.files[r.URL.Path]; ok {
		body, ctype = a.body, a.contentType
	} else {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	// The files are tiny and change with the binary: always revalidate.
	hd.Set("Cache-Control", "no-cache")
	// ServeContent answers HEAD and Range; a zero time sends no Last-Modified.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
