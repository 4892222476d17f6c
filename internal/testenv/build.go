package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildMu  sync.Mutex
	builtDir string
	built    = map[string]string{}
)

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("finding go.mod: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// BinDirEnv names a directory of prebuilt executables, one per main
// package and named after its last path element; when it is set, Build
// takes them from there instead of running go build. Guests booted by
// test/kernels have no Go toolchain time to spare and run the suites so.
const BinDirEnv = "FLIGHTREC_TEST_BINDIR"

// Build compiles the main package pkg (like "./cmd/flightrec_exporter")
// once per test binary and returns the path of the executable.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	if dir := os.Getenv(BinDirEnv); dir != "" {
		bin := filepath.Join(dir, filepath.Base(pkg))
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s=%s: no prebuilt %s: %v", BinDirEnv, dir, pkg, err)
		}
		return bin
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if builtDir == "" {
		dir, err := os.MkdirTemp("", "flightrec-testbin-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		// Workloads also run as unprivileged users.
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		builtDir = dir
	}
	bin := filepath.Join(builtDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Cleanup removes the binaries built by Build; call it from TestMain.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}
