package cli

import (
	"fmt"
	"os"

	"github.com/vipfarm/vipfarm/internal/home"
)

func init() {
	register("cluster", "cluster genkey [--force] [--home DIR] | cluster check [--home DIR]", cluster)
}

// defaultHome is farmd's default configuration directory.
const defaultHome = "/etc/vipfarm"

// cluster works offline on the configuration directory: no farmd needed.
func cluster(e *env, args []string) error {
	if len(args) == 0 {
		return usagef("missing sub-command: genkey or check")
	}
	sub, args := args[0], args[1:]
	fs := e.flags("cluster " + sub)
	dir := fs.String("home", defaultHome, "configuration directory")
	switch sub {
	case "genkey":
		force := fs.Bool("force", false, "replace an existing key")
		if _, err := e.parse(fs, args, 0); err != nil {
			return err
		}
		path := home.KeyFile(*dir)
		if err := home.GenerateKey(path, *force); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "heartbeat key written to %s; copy it (mode 0600) to every node\n", path)
		return nil
	case "check":
		if _, err := e.parse(fs, args, 0); err != nil {
			return err
		}
		errs, warns := home.Check(*dir, os.LookupEnv)
		if e.json {
			out := map[string][]string{"errors": {}, "warnings": warns}
			for _, err := range errs {
				out["errors"] = append(out["errors"], err.Error())
			}
			if out["warnings"] == nil {
				out["warnings"] = []string{}
			}
			if err := e.printJSON(out); err != nil {
				return err
			}
		} else {
			for _, w := range warns {
				fmt.Fprintln(e.stdout, w)
			}
			for _, err := range errs {
				fmt.Fprintln(e.stdout, err)
			}
		}
		if len(errs) > 0 {
			return &exitError{code: ExitFail, err: fmt.Errorf("%d error(s)", len(errs))}
		}
		if !e.json {
			fmt.Fprintln(e.stdout, "configuration OK")
		}
		return nil
	}
	return usagef("unknown sub-command %q: want genkey or check", sub)
}
