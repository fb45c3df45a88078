package browser

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vipfarm/vipfarm/netlab"
)

var updateScreenshots = flag.Bool("update-screenshots", false,
	"copy the first screenshot (both nodes UP) to docs/screenshots/console-lab.png")

func TestMain(m *testing.M) {
	// The test binary is also the shim of two kinds of children: Chromium
	// entering node1's namespace, and the lab's farmd daemons.
	RunExecIfAsked()
	netlab.RunShimIfAsked()
	os.Exit(m.Run())
}

// The lab of this test: a prefix and state directory no other lab uses.
var labSpec = netlab.Spec{Prefix: "vf-h12", StateDir: "/run/vf-h12", Nodes: 2, Clients: -1}

// TestConsoleOnLab loads node1's web console in headless Chromium running
// inside node1's namespace, against a real two-node farm, and follows it
// through a planned stop and a crash of node2:
//
//	sudo go test ./netlab/browser/ -run ConsoleOnLab -v [-update-screenshots]
//
// Screenshots of every step go to $VF_ARTIFACTS (else a temporary
// directory); the test checks that each one shows the colours it asserts.
func TestConsoleOnLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, XDP, farmd): run `sudo go test ./netlab/browser/`")
	}
	chromium, err := FindChromium()
	if err != nil {
		t.Skip(err.Error())
	}
	began := time.Now()
	bin := labBinaries(t)
	// Lab.Farmctl finds farmctl on PATH.
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	arts := artifactsDir(t)

	// A lab left by an interrupted run of this test (Down is idempotent).
	if err := netlab.Down(labSpec); err != nil {
		t.Fatalf("removing an earlier %s lab: %v", labSpec.Prefix, err)
	}
	l, err := netlab.Up(labSpec)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := netlab.Down(labSpec); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	t.Cleanup(func() { // runs before Down: the logs are still there
		if t.Failed() {
			for _, n := range l.Plan.Nodes {
				t.Logf("farmd log of %s (%s):\n%s", n.Name, l.FarmdLog(n.Name), tailFile(l.FarmdLog(n.Name), 40))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	if err := l.StartFarm(ctx, netlab.FarmOptions{
		Farmd: filepath.Join(bin, "farmd"), Farmlab: filepath.Join(bin, "farmlab"),
		StartModules: true, Timeout: 40 * time.Second,
	}); err != nil {
		t.Fatalf("start the farm: %v", err)
	}
	t.Logf("lab up with a balanced farm after %v", time.Since(began).Round(time.Millisecond))

	node1, _ := l.Plan.NodeByName("node1")
	node2, _ := l.Plan.NodeByName("node2")
	chromeLog, err := os.Create(filepath.Join(arts, "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chromeLog.Close() })
	actx, acancel, err := NewAllocator(context.Background(), node1.NS, Options{Chromium: chromium, Output: chromeLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel) // closes the browser first, then the allocator, then Down
	url := l.AdminURL(node1) + "/"
	// The first Run starts the browser: no timeout on its context (that
	// would end the browser with it), so it is bounded by a watchdog.
	if err := runBounded(bctx, 30*time.Second, func() error { return chromedp.Do(bctx, chromedp.Navigate(url)) }); err != nil {
		t.Fatalf("Chromium in %s: open %s: %v (see %s)", node1.NS, url, err, chromeLog.Name())
	}
	t.Logf("Chromium in %s opened %s after %v", node1.NS, url, time.Since(began).Round(time.Millisecond))

	// step waits until the page passes check, then keeps a screenshot of
	// it (Capture: the picture shows a page that still passes check).
	step := func(name string, timeout time.Duration, check func(Console) error) string {
		t.Helper()
		page, err := WaitConsole(bctx, timeout, check)
		if err != nil {
			sctx, cancel := context.WithTimeout(bctx, 10*time.Second)
			defer cancel()
			if pic, serr := Screenshot(sctx); serr == nil {
				path := filepath.Join(arts, "console-lab-failed-"+name+".png")
				if os.WriteFile(path, pic, 0o644) == nil {
					t.Logf("screenshot of the failure: %s", path)
				}
			}
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s after %v: %s", name, time.Since(began).Round(time.Millisecond), page)
		sctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		pic, page, err := Capture(sctx, check)
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		path := filepath.Join(arts, "console-lab-"+name+".png")
		if err := os.WriteFile(path, pic, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: screenshot %s", name, path)
		return path
	}

	// 1. Both nodes UP ready (green), half of the buckets each: 50 %, and
	// between them every bucket, each within one of 128 (INV-3).
	first := step("1-up", 15*time.Second, func(c Console) error {
		return errors.Join(
			cardIs(c, "node1", "st-green", "UP", "ready", "FarmProto 50%", ""),
			cardIs(c, "node2", "st-green", "UP", "ready", "FarmProto 50%", ""),
			balanced(c, "node1", "node2"),
			statusSays(c, "2/2 answering"),
			cardCount(c, 2))
	})
	if *updateScreenshots {
		dst := filepath.Join("..", "..", "docs", "screenshots", "console-lab.png")
		if err := copyFile(first, dst); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", dst)
	}

	// 2. farmctl stop on node2: node2 STOP (red), node1 takes every bucket.
	if err := l.Farmctl(ctx, node2.Name, "-m", l.Plan.Spec.Module, "stop"); err != nil {
		t.Fatal(err)
	}
	step("2-stop", 20*time.Second, func(c Console) error {
		return errors.Join(
			cardIs(c, "node1", "st-green", "UP", "ready", "FarmProto 100%", "100% (256/256)"),
			cardIs(c, "node2", "st-red", "STOP", "", "FarmProto 0%", "0% (0/256)"),
			statusSays(c, "2/2 answering"),
			cardCount(c, 2))
	})

	// 3. node2 crashes (every process of it killed, farmd included, its
	// cables pulled): its card turns to an ERROR, node1's keeps updating.
	if _, err := l.Do(ctx, "crash "+node2.Name); err != nil {
		t.Fatal(err)
	}
	step("3-error", 20*time.Second, func(c Console) error {
		want := "Cannot read " + l.AdminURL(node2) + "/api/v1/modules/" + l.Plan.Spec.Module + ": "
		k, _ := c.Card("node2")
		var msg error
		if !strings.HasPrefix(k.Error, want) {
			msg = fmt.Errorf("node2's error %q, want %q...", k.Error, want)
		}
		return errors.Join(
			cardIs(c, "node1", "st-green", "UP", "ready", "FarmProto 100%", "100% (256/256)"),
			cardIs(c, "node2", "st-red", "ERROR", "unreachable", "", ""),
			msg,
			statusSays(c, "1/2 answering"),
			cardCount(c, 2))
	})
	t.Logf("done after %v", time.Since(began).Round(time.Millisecond))
}

// cardIs checks node's card; an empty share or group is not checked.
func cardIs(c Console, node, colour, state, sub, share, group string) error {
	k, ok := c.Card(node)
	if !ok {
		return fmt.Errorf("no card for %s", node)
	}
	var errs []error
	for _, f := range []struct{ what, got, want string }{
		{"colour", k.Colour, colour}, {"state", k.State, state}, {"readiness", k.Sub, sub},
		{"share", k.Share, share}, {"group", k.Group, group},
	} {
		if (f.want != "" || f.what == "colour" || f.what == "state") && f.got != f.want {
			errs = append(errs, fmt.Errorf("%s %s %q, want %q", node, f.what, f.got, f.want))
		}
	}
	return errors.Join(errs...)
}

// balanced checks that the nodes' first groups own every bucket between
// them, each node within one bucket of an equal share.
func balanced(c Console, nodes ...string) error {
	total := 0
	var errs []error
	for _, n := range nodes {
		k, _ := c.Card(n)
		var pct, owned int
		if _, err := fmt.Sscanf(k.Group, "%d%% (%d/256)", &pct, &owned); err != nil {
			errs = append(errs, fmt.Errorf("%s group %q: want \"P%% (N/256)\"", n, k.Group))
			continue
		}
		if d := owned*len(nodes) - 256; d < -len(nodes) || d > len(nodes) {
			errs = append(errs, fmt.Errorf("%s owns %d buckets, want 256/%d ± 1", n, owned, len(nodes)))
		}
		total += owned
	}
	if len(errs) == 0 && total != 256 {
		errs = append(errs, fmt.Errorf("the nodes own %d buckets between them, want 256", total))
	}
	return errors.Join(errs...)
}

func statusSays(c Console, want string) error {
	if !strings.Contains(c.Status, want) {
		return fmt.Errorf("status %q, want %q", c.Status, want)
	}
	return nil
}

func cardCount(c Console, n int) error {
	if len(c.Cards) != n {
		return fmt.Errorf("%d cards, want %d", len(c.Cards), n)
	}
	return nil
}

// runBounded runs fn and gives up after d, cancelling ctx's browser.
func runBounded(ctx context.Context, d time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = chromedp.Cancel(ctx)
		<-done
		return fmt.Errorf("no answer within %v", d)
	}
}

// labBinaries builds farmd, farmctl and farmlab (the module scripts' demo
// service) from this module into a temporary directory.
func labBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/vipfarm/vipfarm/cmd/farmd", "github.com/vipfarm/vipfarm/cmd/farmctl", "github.com/vipfarm/vipfarm/cmd/farmlab")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the lab binaries: %v\n%s", err, out)
	}
	return dir
}

// artifactsDir is $VF_ARTIFACTS (made if missing), else a test directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("VF_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("VF_ARTIFACTS: %v", err)
	}
	return dir
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
