// Package runtime_test runs the exporter against a real container runtime:
// containerd and runc, started by the test with a configuration of their
// own, driven over CRI with crictl the way kubelet drives them (cgroupfs
// driver, kubelet-style pod cgroups, read-only root file systems and
// kubelet's read-only /proc paths), with a Kubernetes API served by the
// test. It checks the names the exporter gives containers (from the
// runtime, before the API knows them), the previous runs of a restarting
// container, the runtime's own setup kept apart from the application, and
// the ending recorded for a container. Needs root, containerd, runc, crictl
// and busybox-static (.ci/run installs them).
//
// One containerd serves every test (it starts in a few seconds, and the
// package must run in well under 3 minutes); each test has its own cgroup
// parent, pods and exporter, and removes them when it ends.
package runtime_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		for _, err := range shared.stop() {
			fmt.Fprintln(os.Stderr, "test/runtime cleanup:", err)
			code = 1
		}
		// Nothing the tests made may outlive them.
		if left := shared.shims(); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "test/runtime cleanup: shims still running:", left)
			code = 1
		}
		if _, err := os.Stat(shared.Dir); err == nil {
			fmt.Fprintln(os.Stderr, "test/runtime cleanup: left", shared.Dir)
			code = 1
		}
	}
	if left := leftoverCgroups(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "test/runtime cleanup: cgroups left:", left)
		code = 1
	}
	testenv.Cleanup()
	os.Exit(code)
}
