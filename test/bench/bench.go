package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// bench is one benchmark run: its binaries, cgroups and results.
type bench struct {
	cfg      config
	tmp      string // scratch directory (binaries, logs)
	shm      string // scratch directory on tmpfs (tar tree)
	exporter string // built exporter binary
	// exporterFlags are added to every exporter start: --recorder.cgroup-parent
	// aside, the exporter runs with its defaults.
	exporterFlags []string
	workload      string   // built workload binary
	ro            *roMount // read-only tmpfs of the notable-failure workload
	cg            *cgroupTree
	modes         []modeInfo
	real          realistic // nil when skipped
	machine       machineInfo
	notes         []string // what the reader must know (skipped parts, foreign tracers)
	runSeq        int      // numbers the single-use cgroups
	res           results
}

// newBench builds the binaries and creates the cgroups.
func newBench(ctx context.Context, cfg config) (_ *bench, err error) {
	b := &bench{cfg: cfg, res: newResults()}
	defer func() {
		if err != nil {
			_ = b.close()
		}
	}()
	if b.tmp, err = os.MkdirTemp("", "flightrec-bench-"); err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	if b.shm, err = os.MkdirTemp("/dev/shm", "flightrec-bench-"); err != nil {
		return nil, fmt.Errorf("creating scratch directory on /dev/shm: %w", err)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	b.workload = filepath.Join(b.tmp, "workload")
	builds := map[string]string{"./test/bench/workload": b.workload}
	if b.exporter = cfg.exporterBin; b.exporter == "" {
		b.exporter = filepath.Join(b.tmp, "flightrec_exporter")
		builds["./cmd/flightrec_exporter"] = b.exporter
	}
	b.logf("building %d binaries in %s", len(builds), root)
	for pkg, out := range builds {
		if err := goBuild(ctx, root, pkg, out); err != nil {
			return nil, err
		}
	}
	if b.exporterFlags, err = b.sessionFlags(ctx); err != nil {
		return nil, err
	}
	if b.cg, err = newCgroupTree(); err != nil {
		return nil, err
	}
	if b.ro, err = newROMount(); err != nil {
		return nil, err
	}
	b.modes = b.pickModes()
	if !cfg.skipRealistic {
		if b.real, err = b.pickRealistic(); err != nil {
			return nil, err
		}
	} else {
		b.notes = append(b.notes, "The realistic workload was skipped (-skip-realistic).")
	}
	b.machine = readMachine()
	return b, nil
}

// pickModes lists the modes this run measures.
func (b *bench) pickModes() []modeInfo {
	var out []modeInfo
	for _, m := range allModes {
		if m.id == modeStrace {
			if b.cfg.skipStrace {
				b.notes = append(b.notes, "strace was skipped (-skip-strace).")
				continue
			}
			if _, err := exec.LookPath("strace"); err != nil {
				b.notes = append(b.notes, "strace was skipped: not installed (apt-get install strace).")
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// sessionFlags are the exporter flags every session needs: pinning is
// turned off where the exporter has it, so that each session starts with
// fresh rings and needs no bpf filesystem.
func (b *bench) sessionFlags(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, b.exporter, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %w\n%s", b.exporter, err, out)
	}
	if strings.Contains(string(out), "--bpf.pin-path") {
		return []string{"--bpf.pin-path="}, nil
	}
	return nil, nil
}

// close removes everything the run made.
func (b *bench) close() error {
	var errs []error
	if b.cg != nil {
		errs = append(errs, b.cg.remove())
	}
	errs = append(errs, b.ro.remove())
	for _, d := range []string{b.shm, b.tmp} {
		if d != "" {
			errs = append(errs, os.RemoveAll(d))
		}
	}
	return errors.Join(errs...)
}

// logf writes a progress line.
func (b *bench) logf(format string, args ...any) {
	if b.cfg.progress != nil {
		fmt.Fprintf(b.cfg.progress, "bench: "+format+"\n", args...)
	}
}

// goTool is the go command: the one on PATH, or the running toolchain's.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// moduleRoot is the directory of the module's go.mod, wherever the
// harness is run from (the module root, or test/bench under go test).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module (go env GOMOD): %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the flightrec_exporter module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

func goBuild(ctx context.Context, root, pkg, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return nil
}
