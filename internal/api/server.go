package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/internal/view"
)

// DefaultAddr is the admin port (SafeKit's web console port).
const DefaultAddr = ":9010"

// Handler serves the admin API.
type Handler struct {
	Farm     view.Farm
	Token    []byte // admin token; empty refuses every mutating call
	Registry *prometheus.Registry
	Log      *slog.Logger
	mux      *http.ServeMux
}

// New returns the handler with its routes; console, when not nil, is the
// web console mounted at "/".
func New(farm view.Farm, token []byte, reg *prometheus.Registry, log *slog.Logger, console http.Handler) *Handler {
	h := &Handler{Farm: farm, Token: token, Registry: reg, Log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /var/modules/{module}/ready.txt", h.ready)
	h.mux.HandleFunc("GET /api/v1/modules", h.list)
	h.mux.HandleFunc("GET /api/v1/modules/{module}", h.module)
	h.mux.HandleFunc("POST /api/v1/modules/{module}/{verb}", h.action)
	h.mux.HandleFunc("OPTIONS /api/v1/modules/{module}/{verb}", preflight)
	if reg != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	if console != nil {
		h.mux.Handle("/", console)
	}
	return h
}

// ServeHTTP serves the routes. The API allows cross-origin calls: the web
// console served by one node reads (and, with the token, acts on) every
// node. No cookie is ever used, so "*" opens nothing a script could not
// already do with the token.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/var/") {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	h.mux.ServeHTTP(w, r)
}

// preflight answers the CORS preflight of a POST carrying Authorization.
func preflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func ctxOf(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxOf(r)
	defer cancel()
	m, err := h.Farm.Module(ctx, r.PathValue("module"))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil || m.State != core.StateUp.String() || !m.Ready {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("NOT FOUND"))
		return
	}
	w.Write([]byte("OK"))
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxOf(r)
	defer cancel()
	out := []view.Module{}
	for _, name := range h.Farm.Modules() {
		m, err := h.Farm.Module(ctx, name)
		if err != nil {
			h.fail(w, err)
			return
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) module(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxOf(r)
	defer cancel()
	m, err := h.Farm.Module(ctx, r.PathValue("module"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vipfarm"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required (Authorization: Bearer <token>)"})
		return
	}
	verb, ok := view.ParseAction(r.PathValue("verb"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown action " + r.PathValue("verb") + ": want start|stop|restart|stopstart"})
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	name := r.PathValue("module")
	if err := h.Farm.Do(ctx, name, core.Command{Verb: verb}); err != nil {
		h.fail(w, err)
		return
	}
	h.Log.Info("admin action over HTTP", "module", name, "action", r.PathValue("verb"), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, map[string]string{"module": name, "action": r.PathValue("verb")})
}

func (h *Handler) authorized(r *http.Request) bool {
	if len(h.Token) == 0 {
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), h.Token) == 1
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, view.ErrNoModule):
		code = http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
