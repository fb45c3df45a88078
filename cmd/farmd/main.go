// Command farmd is vipfarm's daemon: it runs every module of its home
// directory on this node (see docs/farmd.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/internal/api"
	"github.com/vipfarm/vipfarm/internal/daemon"
)

func main() {
	var o daemon.Options
	var drainMs uint
	var debug, jsonLog bool
	fs := flag.NewFlagSet("farmd", flag.ContinueOnError)
	fs.StringVar(&o.Home, "home", daemon.DefaultHome, "configuration directory (cluster/, modules/, admin.token)")
	fs.StringVar(&o.State, "state", daemon.DefaultState, "state directory (module logs, script logs; the control socket with a non-default state)")
	fs.StringVar(&o.Socket, "socket", "", "control socket (default /run/vipfarm/farmd.sock, or STATE/farmd.sock with --state)")
	fs.StringVar(&o.Node, "node", "", "this node's name in cluster.xml (default: found from the local addresses)")
	fs.StringVar(&o.Admin, "admin", api.DefaultAddr, "admin HTTP address (health check, JSON API, /metrics); \"off\" disables it")
	fs.BoolVar(&o.NoXDP, "no-xdp", false, "run WITHOUT the XDP dataplane (hosts without XDP): failover only, no load balancing")
	fs.BoolVar(&o.XDPGeneric, "xdp-generic", false, "attach XDP in generic (skb) mode instead of driver mode")
	fs.UintVar(&drainMs, "drain-ms", daemon.DefaultDrainMs, "how long a moved bucket keeps reaching its previous owner's existing flows")
	fs.StringVar(&o.Farmctl, "farmctl", "", "farmctl binary behind $SAFE/safekit (default: next to farmd)")
	fs.DurationVar(&o.StopTimeout, "stop-timeout", daemon.DefaultStopTimeout, "how long a clean module stop may take at shutdown")
	fs.BoolVar(&debug, "debug", false, "debug logging")
	fs.BoolVar(&jsonLog, "log-json", false, "JSON structured logs")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "farmd: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	o.DrainMs = uint32(drainMs)
	lvl := slog.LevelInfo
	if debug {
		lvl = slog.LevelDebug
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	if jsonLog {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	}
	o.Log = slog.New(h)
	if err := run(o); err != nil {
		o.Log.Error("farmd failed", "err", err)
		os.Exit(1)
	}
}

func run(o daemon.Options) error {
	d, err := daemon.New(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			if s == syscall.SIGHUP {
				go d.Reload() // logs its own outcome; a bad config keeps the running one
				continue
			}
			o.Log.Info("signal received, stopping", "signal", s.String())
			cancel()
			go func() {
				// A second signal or a stuck stop must not keep the process forever.
				select {
				case <-sigs:
				case <-time.After(o.StopTimeout + 10*time.Second):
				}
				o.Log.Error("forced exit")
				os.Exit(1)
			}()
			return
		}
	}()
	return d.Run(ctx)
}
