// Package browser runs headless Chromium inside a lab namespace and drives it
// with chromedp, so that a test sees the web console exactly as an operator's
// browser on the farm's LAN does: the page served by one node's farmd reads
// every other node's admin API over the lab's veths, and a dead node is a
// real connection failure, not something a proxy made up.
//
// Chromium talks to chromedp over a pipe (--remote-debugging-pipe), so no
// DevTools port has to be carried out of the namespace. The browser enters
// the namespace through a tiny exec shim in the test binary itself: a test
// package that uses NewAllocator calls RunExecIfAsked first thing in
// TestMain, and the allocator starts "<test binary> ExecArg NS -- chromium
// FLAGS"; the shim joins NS on its thread and execs Chromium, which keeps
// the pipe's file descriptors and its PID.
package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/chromedp/chromedp"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/netlab"
)

// ExecArg, as os.Args[1] of a binary that calls RunExecIfAsked, makes it the
// namespace shim: ExecArg NS -- CMD [ARG...].
const ExecArg = "__netlab_browser_exec"

// RunExecIfAsked does the shim's job and never returns when os.Args[1] is
// ExecArg; otherwise it returns at once.
func RunExecIfAsked() {
	if len(os.Args) < 2 || os.Args[1] != ExecArg {
		return
	}
	if err := execInNS(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "netlab browser shim: %v\n", err)
		os.Exit(127)
	}
}

// execInNS runs args = NS -- CMD [ARG...]: it only returns on failure.
func execInNS(args []string) error {
	if len(args) < 3 || args[1] != "--" {
		return fmt.Errorf("usage: %s NETNS -- CMD [ARG...], got %q", ExecArg, args)
	}
	ns, argv := args[0], args[2:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	// Namespaces belong to threads: the join and the exec must happen on
	// the same one, and execve keeps only the calling thread.
	runtime.LockOSThread()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter netns %s: %w", ns, err)
	}
	h.Close()
	return fmt.Errorf("exec %s in netns %s: %w", path, ns, unix.Exec(path, argv, os.Environ()))
}

// FindChromium returns the Chromium binary on PATH ("chromium", as Debian's
// package installs it, or "chromium-browser"), or an error that says which
// package to install.
func FindChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found on PATH: install it (Debian/Ubuntu: apt-get install -y chromium)")
}

// Options say how NewAllocator runs Chromium.
type Options struct {
	// Chromium is the browser binary ("" = FindChromium).
	Chromium string
	// WidthPx and HeightPx are the window size (0 = 1400×1000).
	WidthPx, HeightPx int
	// Output receives Chromium's stdout and stderr (nil = dropped).
	Output io.Writer
}

// Flags are the Chromium switches of every lab browser: headless, no
// sandbox (the lab runs as root), and nothing that reaches out on its own
// (the lab has no internet and must not wait for it). chromedp adds
// --remote-debugging-pipe and a fresh --user-data-dir it removes afterwards.
func Flags(widthPx, heightPx int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Headless, // --headless (the new headless mode)
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		// Timers of a page nobody looks at must still fire: the console
		// polls with setTimeout.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(widthPx, heightPx),
	}
}

// NewAllocator returns a chromedp allocator context whose browsers run inside
// the network namespace ns (a lab namespace, see netlab.NSPath). Cancelling
// it closes the browser and removes its user data directory. The calling
// binary must call RunExecIfAsked at the start of main or TestMain.
func NewAllocator(parent context.Context, ns string, o Options) (context.Context, context.CancelFunc, error) {
	if o.Chromium == "" {
		p, err := FindChromium()
		if err != nil {
			return nil, nil, err
		}
		o.Chromium = p
	}
	if o.WidthPx == 0 || o.HeightPx == 0 {
		o.WidthPx, o.HeightPx = 1400, 1000
	}
	if _, err := os.Stat(netlab.NSPath(ns)); err != nil {
		return nil, nil, fmt.Errorf("browser in netns %s: %w", ns, err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("browser in netns %s: find own executable for the shim: %w", ns, err)
	}
	opts := append(Flags(o.WidthPx, o.HeightPx),
		chromedp.ExecPath(o.Chromium),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// cmd.Args[0] is Chromium's path: the shim execs it as is.
			cmd.Path = self
			cmd.Args = append([]string{self, ExecArg, ns, "--"}, cmd.Args...)
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			// What chromedp does without a ModifyCmdFunc: the browser dies
			// with the test (it starts the process from a locked thread
			// that lives as long as the browser).
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}),
	)
	if o.Output != nil {
		opts = append(opts, chromedp.CombinedOutput(o.Output))
	}
	ctx, cancel := chromedp.NewExecAllocator(parent, opts...)
	return ctx, cancel, nil
}
