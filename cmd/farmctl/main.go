// Command farmctl is vipfarm's command line (also installed as the SafeKit
// alias "safekit"): it drives the local farmd over its control socket and
// manages the cluster's configuration files.
package main

import (
	"os"

	"github.com/vipfarm/vipfarm/internal/cli"
)

func main() { os.Exit(cli.Run()) }
