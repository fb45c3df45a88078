package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/internal/view"
)

// Server answers farmctl on a Unix socket.
type Server struct {
	Farm view.Farm
	Log  *slog.Logger
	// AllowUID is the only uid besides root allowed to connect (farmd's own).
	AllowUID int

	ln net.Listener
	wg sync.WaitGroup
}

// Listen creates the socket at path (replacing a stale one), mode 0600.
func (s *Server) Listen(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("control socket: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("control socket: %s is in use (another farmd running?)", path)
		}
		_ = os.Remove(path)
	}
	old := syscall.Umask(0o177) // the socket is never visible with a wider mode
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	s.ln = ln
	return nil
}

// Serve accepts connections until Close.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.wg.Wait()
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c.(*net.UnixConn))
		}()
	}
}

// Close stops accepting and removes the socket file.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	return s.ln.Close() // net's unix listener unlinks the file
}

func (s *Server) handle(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := s.authorize(c); err != nil {
		s.Log.Warn("control socket: refused", "err", err)
		_ = json.NewEncoder(c).Encode(Response{Error: err.Error()})
		return
	}
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, MaxRequestBytes)).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(Response{Error: "bad request: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := s.Do(ctx, req)
	if err := json.NewEncoder(c).Encode(resp); err != nil {
		s.Log.Debug("control socket: reply", "err", err)
	}
}

func (s *Server) authorize(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("peer credentials: %w", cerr)
	}
	if cred.Uid != 0 && int(cred.Uid) != s.AllowUID {
		return fmt.Errorf("uid %d may not use the control socket (root only)", cred.Uid)
	}
	return nil
}

// Do executes one request; it is the whole protocol, separate from the
// socket so tests can drive it directly.
func (s *Server) Do(ctx context.Context, req Request) Response {
	fail := func(err error) Response { return Response{Error: err.Error()} }
	needModule := func() error {
		if req.Module == "" {
			return errors.New("no module: give -m MODULE")
		}
		return nil
	}
	switch req.Verb {
	case "status", "modules":
		var out []view.Module
		for _, name := range s.Farm.Modules() {
			m, err := s.Farm.Module(ctx, name)
			if err != nil {
				return fail(err)
			}
			out = append(out, m)
		}
		return Response{OK: true, Modules: out}
	}
	if err := needModule(); err != nil {
		return fail(err)
	}
	switch req.Verb {
	case "start", "stop", "restart", "stopstart":
		verb, _ := view.ParseAction(req.Verb)
		if err := s.Farm.Do(ctx, req.Module, core.Command{Verb: verb, Ident: req.Ident}); err != nil {
			return fail(err)
		}
		return Response{OK: true}
	case "boot":
		var verb core.Verb
		switch req.Value {
		case "on":
			verb = core.VerbBootOn
		case "off":
			verb = core.VerbBootOff
		default:
			return fail(fmt.Errorf("boot %q: want on|off", req.Value))
		}
		if err := s.Farm.Do(ctx, req.Module, core.Command{Verb: verb, Ident: req.Ident}); err != nil {
			return fail(err)
		}
		return Response{OK: true}
	case "state":
		m, err := s.Farm.Module(ctx, req.Module)
		if err != nil {
			return fail(err)
		}
		return Response{OK: true, Module: &m}
	case "get":
		m, err := s.Farm.Module(ctx, req.Module)
		if err != nil {
			return fail(err)
		}
		for _, r := range m.Resources {
			if r.Name == req.Resource {
				return Response{OK: true, Value: r.State}
			}
		}
		return fail(fmt.Errorf("module %s has no resource %q", req.Module, req.Resource))
	case "set":
		st, err := view.ParseResourceState(req.Value)
		if err != nil {
			return fail(err)
		}
		if req.Resource == "" {
			return fail(errors.New("set: no resource (-r)"))
		}
		if err := s.Farm.SetResource(ctx, req.Module, req.Resource, st); err != nil {
			return fail(err)
		}
		return Response{OK: true}
	case "printi", "printe":
		lvl := core.LogInfo
		if req.Verb == "printe" {
			lvl = core.LogError
		}
		if err := s.Farm.Print(ctx, req.Module, lvl, req.Message); err != nil {
			return fail(err)
		}
		return Response{OK: true}
	case "log":
		lines, err := s.Farm.Log(req.Module, req.Lines)
		if err != nil {
			return fail(err)
		}
		return Response{OK: true, Lines: lines}
	}
	return fail(fmt.Errorf("unknown verb %q", req.Verb))
}
