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
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	// Interrupted, the tests' own cleanups do not run: containerd, its
	// pods and the cgroups are removed here instead.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "test/runtime: %v: cleaning up\n", s)
		cleanupAll(false)
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sigs)
	if !cleanupAll(true) {
		code = 1
	}
	os.Exit(code)
}

var cleanupOnce sync.Once

// cleanupAll stops the shared containerd and removes what the tests made.
// With verify, it first reports (and fails the run for) any cgroup the
// tests left, then anything containerd left behind. It reports whether all
// was clean.
func cleanupAll(verify bool) bool {
	clean := true
	cleanupOnce.Do(func() {
		fail := func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "test/runtime cleanup: "+format+"\n", args...)
			clean = false
		}
		madeMu.Lock()
		madeClosed = true
		parents := append([]string(nil), madeParents...)
		madeMu.Unlock()
		if left := leftoverCgroups(); verify && len(left) > 0 {
			fail("the tests left cgroups: %v", left)
		}
		if shared != nil {
			for _, err := range shared.stop() {
				fail("%v", err)
			}
			if left := shared.shims(); len(left) > 0 {
				fail("shims still running: %v", left)
			}
			if _, err := os.Stat(shared.Dir); err == nil {
				fail("left %s", shared.Dir)
			}
		}
		for _, p := range parents {
			for _, err := range removeCgroupTrees(p) {
				fail("%v", err)
			}
		}
		if left := leftoverCgroups(); len(left) > 0 {
			fail("cgroups still present: %v", left)
		}
		testenv.Cleanup()
	})
	return clean
}
