// Package e2e drives the farmlab command end to end: a real farm of farmd
// daemons with the XDP dataplane in network namespaces, real clients, the
// scenario verbs, every scenario of scenarios/ that makes sense in real
// time, the admin HTTP interface, the ARP holder's takeover, IPv6, on_port
// spreading and a clean `farmlab down`. It needs root and builds farmd,
// farmctl and farmlab from this repository; as another user every spec is
// skipped with the reason. It runs in about 8 minutes on 2 cores:
//
//	sudo go test -timeout 15m ./netlab/e2e/ -ginkgo.v
//
// Labs are named with the prefix $VF_E2E_PREFIX (default vf-e2e-), so the
// suite can run beside another lab of the same machine.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "farmlab end to end")
}

// binDir holds the binaries built for the suite.
var binDir string

// prefix names every namespace of the suite's labs (see the package doc).
var prefix = func() string {
	if p := os.Getenv("VF_E2E_PREFIX"); p != "" {
		return p
	}
	return "vf-e2e-"
}()

// scenariosDir is the repository's scenarios/ (tests run in their package's
// directory, netlab/e2e).
var scenariosDir = filepath.Join("..", "..", "scenarios")

var _ = BeforeSuite(func() {
	if os.Geteuid() != 0 {
		Skip("needs root (network namespaces, XDP): run `sudo go test ./netlab/e2e/`")
	}
	binDir = GinkgoT().TempDir()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	Expect(err).NotTo(HaveOccurred())
	modDir := filepath.Dir(strings.TrimSpace(string(root)))
	build := exec.Command("go", "build", "-o", binDir+"/", "./cmd/farmd", "./cmd/farmctl", "./cmd/farmlab")
	build.Dir = modDir
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build of the lab binaries:\n%s", out)
})
