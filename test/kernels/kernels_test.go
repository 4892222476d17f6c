// Package kernels boots the exporter on the kernels production nodes run:
// Debian's kernel packages under qemu (TCG), each running the smoke test
// and the privileged suites inside the guest. `make kernels` runs it;
// .ci/run does too.
package kernels

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// kernel is one entry of the matrix.
type kernel struct {
	Suite string // Debian suite the kernel package comes from
	Arch  string // Debian architecture
	// Refuse means the exporter must not run on this kernel: it exits at
	// once with one line naming what the kernel lacks.
	Refuse bool
	// Suites are the privileged test suites run inside the guest after
	// the smoke test.
	Suites []string
}

func (k kernel) name() string { return k.Suite + "-" + k.Arch }

// privileged is what runs inside each guest that must pass.
var privileged = []string{"recorder", "metrics", "faults", "restart", "access", "kubernetes", "incidents"}

// matrix is in the order guests start; go test runs two at a time (one
// per CPU), so the slowest, arm64 under full emulation, goes first and the
// amd64 guests follow one another beside it.
var matrix = []kernel{
	{Suite: "bookworm", Arch: "arm64", Suites: privileged}, // 6.1
	{Suite: "bookworm", Arch: "amd64", Suites: privileged}, // 6.1
	{Suite: "trixie", Arch: "amd64", Suites: privileged},   // 6.12
	{Suite: "bullseye", Arch: "amd64", Refuse: true},       // 5.10
}

// guestUserland is what the suites run besides their own binaries, for a
// guest that cannot share the host's root: shells, coreutils (ls, cat,
// true, sleep), util-linux (unshare, mount), iproute2 and procps (ip,
// sysctl in a private network namespace).
var guestUserland = []string{"dash", "bash", "coreutils", "util-linux", "mount", "iproute2", "procps"}

// Environment variables that narrow a run while working on one kernel.
const (
	onlyEnv   = "FLIGHTREC_KERNELS"       // comma-separated names, e.g. bookworm-amd64
	suitesEnv = "FLIGHTREC_KERNEL_SUITES" // comma-separated suites, or "none"
	runEnv    = "FLIGHTREC_KERNEL_RUN"    // a -test.run pattern for the suites
)

var guestTools = map[string]string{
	"qemu-system-x86_64":  "qemu-system-x86",
	"qemu-system-aarch64": "qemu-system-arm",
	"cpio":                "cpio",
	"xz":                  "xz-utils",
	"dpkg-deb":            "dpkg",
	"apt-get":             "apt",
}

func TestKernels(t *testing.T) {
	testenv.RequireRoot(t)
	for tool, pkg := range guestTools {
		testenv.RequireTool(t, tool, "boots the kernel matrix (Debian package "+pkg+")")
	}
	if !fileExists("/bin/busybox") {
		testenv.SkipOrFail(t, "/bin/busybox not installed: the guests' initramfs (Debian package busybox-static; .ci/run installs it)")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the kernel matrix boots from an amd64 host")
	}

	only := map[string]bool{}
	for _, n := range strings.Split(os.Getenv(onlyEnv), ",") {
		if n = strings.TrimSpace(n); n != "" {
			only[n] = true
		}
	}
	bins := newBinaries(t)
	ctx := context.Background()
	for _, k := range matrix {
		if len(only) > 0 && !only[k.name()] {
			continue
		}
		if s := os.Getenv(suitesEnv); s != "" && k.Suites != nil {
			k.Suites = nil
			if s != "none" {
				k.Suites = strings.Split(s, ",")
			}
		}
		t.Run(k.name(), func(t *testing.T) {
			t.Parallel() // TCG is one host thread a guest: two guests use both CPUs
			bootAndCheck(ctx, t, k, bins)
		})
	}
}

func bootAndCheck(ctx context.Context, t *testing.T, k kernel, bins *binaries) {
	repo, err := newAptRepo(k.Suite, k.Arch)
	if err != nil {
		t.Fatal(err)
	}
	pkgDir, err := repo.fetchPackage("linux-image-" + k.Arch)
	if err != nil {
		t.Fatalf("fetching the %s kernel: %v", k.name(), err)
	}
	vmlinuz, modDir, err := kernelImage(pkgDir)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	ir := &initramfs{
		busybox: "/bin/busybox",
		modDir:  modDir,
		files:   map[string]string{"/init": filepath.Join(bins.repo, "test/kernels/guest/init")},
		env:     map[string]string{"EXPECT": "pass"},
	}
	if k.Refuse {
		ir.env["EXPECT"] = "refuse"
	}
	hostRoot := k.Arch == runtime.GOARCH
	if hostRoot {
		// The guest mounts the host's root: it needs virtio, 9p and overlay.
		ir.modules, err = moduleLoadOrder(modDir, []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"})
		if err != nil {
			t.Fatal(err)
		}
		ir.env["HOSTROOT"] = "1"
		ir.env["REPO"] = bins.repo
		ir.env["BINDIR"] = bins.dir(t, k.Arch, k.Suites)
		ir.env["SUITES"] = strings.Join(k.Suites, " ")
		ir.env["RUN"] = os.Getenv(runEnv)
	} else {
		// The host's userland is of another architecture: the initramfs
		// carries the guest's own, unpacked from Debian's packages of its
		// architecture, with the binaries and an empty test tree to run in.
		repo, err := newAptRepo(k.Suite, k.Arch)
		if err != nil {
			t.Fatal(err)
		}
		bbDir, err := repo.fetchPackage("busybox-static")
		if err != nil {
			t.Fatalf("fetching busybox-static for %s: %v", k.Arch, err)
		}
		ir.busybox = filepath.Join(bbDir, "bin", "busybox")
		if len(k.Suites) > 0 {
			if ir.root, err = repo.userland(guestUserland); err != nil {
				t.Fatalf("unpacking an %s userland: %v", k.Arch, err)
			}
			promDir, err := repo.fetchPackage("prometheus")
			if err != nil {
				t.Fatalf("fetching promtool for %s: %v", k.Arch, err)
			}
			ir.files["/usr/bin/promtool"] = filepath.Join(promDir, "usr", "bin", "promtool")
		}
		binDir := bins.dir(t, k.Arch, k.Suites)
		ir.files["/run-guest"] = filepath.Join(bins.repo, "test/kernels/guest/run")
		ir.files["/smoke"] = filepath.Join(bins.repo, "test/kernels/guest/smoke")
		entries, err := os.ReadDir(binDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			ir.files["/flightrec-bin/"+e.Name()] = filepath.Join(binDir, e.Name())
		}
		for _, s := range k.Suites {
			ir.dirs = append(ir.dirs, "/repo/test/"+s)
		}
		ir.env["REPO"] = "/repo"
		ir.env["BINDIR"] = "/flightrec-bin"
		ir.env["SUITES"] = strings.Join(k.Suites, " ")
		ir.env["RUN"] = os.Getenv(runEnv)
	}
	initrd := filepath.Join(work, "initrd.gz")
	if err := ir.build(initrd); err != nil {
		t.Fatal(err)
	}

	memory := "4G"
	timeout := 4*time.Minute + time.Duration(len(k.Suites))*4*time.Minute
	logPath := filepath.Join(os.TempDir(), "flightrec-kernel-"+k.name()+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	start := time.Now()
	res, err := runGuest(ctx, qemuCommand(k.Arch, vmlinuz, initrd, memory, hostRoot), timeout, logFile)
	t.Logf("%s: kernel %s (%s) ran %s; console log: %s", k.name(), res.releaseOr(vmlinuz), res.Machine,
		time.Since(start).Round(time.Second), logPath)
	if err != nil {
		t.Fatalf("%v\nconsole, last lines:\n%s", err, tail(res.Log, 60))
	}
	if !res.Done {
		t.Fatalf("the guest stopped before its end\nconsole, last lines:\n%s", tail(res.Log, 60))
	}
	for _, n := range res.Notes {
		t.Logf("guest: %s", n)
	}
	if k.Refuse {
		checkRefusal(t, res)
		return
	}
	for _, what := range append([]string{"smoke"}, k.Suites...) {
		passed, ran := res.Passed[what]
		switch {
		case !ran:
			t.Errorf("%s did not run\nconsole, last lines:\n%s", what, tail(res.Log, 40))
		case !passed && what == "smoke":
			t.Fatalf("smoke test failed:\n%s\n%s", strings.Join(res.Exporter, "\n"), tail(res.Log, 40))
		case !passed:
			t.Errorf("suite %s failed in the guest (%s):\n%s", what, res.Took[what], failures(res.suiteOutput(what)))
		default:
			t.Logf("%s passed (%s)", what, res.Took[what])
		}
	}
}

// checkRefusal asserts that the exporter refused the kernel with one
// error line naming what is missing and the minimum version.
func checkRefusal(t *testing.T, res *guestResult) {
	t.Helper()
	if res.ExitCode == "" || res.ExitCode == "0" {
		t.Fatalf("the exporter did not exit with an error (exit %q):\n%s", res.ExitCode, strings.Join(res.Exporter, "\n"))
	}
	var errs []string
	for _, l := range res.Exporter {
		if strings.Contains(l, "level=ERROR") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want one error line, got %d:\n%s", len(errs), strings.Join(res.Exporter, "\n"))
	}
	for _, want := range []string{"this kernel lacks", "needs Linux " + MinimumKernel} {
		if !strings.Contains(errs[0], want) {
			t.Errorf("error line lacks %q:\n%s", want, errs[0])
		}
	}
	t.Logf("refused as expected: %s", errs[0])
}

// MinimumKernel is the oldest kernel the matrix boots and passes on; the
// exporter's refusal names it (bpf/features.go).
const MinimumKernel = "6.1"

// failures keeps the parts of go test -v output that explain a failure.
func failures(out string) string {
	var keep []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "--- FAIL") || strings.Contains(l, "panic:") || strings.HasPrefix(strings.TrimSpace(l), "FAIL") {
			lo := max(0, i-30)
			keep = append(keep, lines[lo:i+1]...)
			keep = append(keep, "…")
		}
	}
	if len(keep) == 0 {
		return tail(out, 60)
	}
	return strings.Join(keep, "\n")
}

func (r *guestResult) releaseOr(vmlinuz string) string {
	if r != nil && r.Release != "" {
		return r.Release
	}
	return strings.TrimPrefix(filepath.Base(vmlinuz), "vmlinuz-")
}

// binaries builds, once per architecture, what a guest runs: the exporter,
// the workload and the suites' test binaries, all static.
type binaries struct {
	repo string
	root string
	mu   sync.Mutex
	done map[string]string
}

func newBinaries(t *testing.T) *binaries {
	dir, err := os.MkdirTemp("", "flightrec-kernel-bin-")
	if err != nil {
		t.Fatal(err)
	}
	// Workloads run as unprivileged users too.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &binaries{repo: testenv.ModuleRoot(t), root: dir, done: map[string]string{}}
}

func (b *binaries) dir(t *testing.T, arch string, suites []string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	dir := filepath.Join(b.root, arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := func(out string, args ...string) {
		if _, ok := b.done[arch+"/"+out]; ok {
			return
		}
		cmd := exec.Command("go", args...)
		cmd.Args = append(cmd.Args[:2:2], append([]string{"-o", filepath.Join(dir, out)}, args[1:]...)...)
		cmd.Dir = b.repo
		cmd.Env = append(os.Environ(), "GOARCH="+arch, "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, o)
		}
		b.done[arch+"/"+out] = filepath.Join(dir, out)
	}
	build("flightrec_exporter", "build", "./cmd/flightrec_exporter")
	build("workload", "build", "./test/workload")
	for _, s := range suites {
		build(s+".test", "test", "-c", "./test/"+s)
	}
	return dir
}
