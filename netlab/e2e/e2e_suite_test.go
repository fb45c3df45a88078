// Package e2e drives the farmlab command end to end: a real farm of farmd
// daemons with the XDP dataplane in network namespaces, real clients, the
// scenario verbs. It needs root and builds farmd, farmctl and farmlab from
// this repository; as another user every spec is skipped with the reason.
//
//	sudo go test ./netlab/e2e/ -ginkgo.v
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
