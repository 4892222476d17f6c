package kernels

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// kernelImage finds the kernel and its module tree in an unpacked
// linux-image package.
func kernelImage(pkgDir string) (vmlinuz, modDir string, err error) {
	imgs, _ := filepath.Glob(filepath.Join(pkgDir, "boot", "vmlinuz-*"))
	if len(imgs) != 1 {
		return "", "", fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", pkgDir, len(imgs))
	}
	release := strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	for _, base := range []string{"lib", "usr/lib"} {
		d := filepath.Join(pkgDir, base, "modules", release)
		if _, err := os.Stat(filepath.Join(d, "modules.order")); err == nil {
			return imgs[0], d, nil
		}
	}
	return "", "", fmt.Errorf("%s: no module tree for %s", pkgDir, release)
}

// moduleLoadOrder returns the module files (relative to modDir) that load
// wanted, dependencies first. The package ships no modules.dep (depmod
// writes it when the package is installed), so the dependencies come from
// each module's own modinfo. Modules built into the kernel are left out.
func moduleLoadOrder(modDir string, wanted []string) ([]string, error) {
	files := map[string]string{} // module name → file, relative to modDir
	b, err := os.ReadFile(filepath.Join(modDir, "modules.order"))
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Fields(string(b)) {
		// modules.order names the uncompressed file; the package has it compressed.
		matches, _ := filepath.Glob(filepath.Join(modDir, l+"*"))
		if len(matches) == 1 {
			rel, _ := filepath.Rel(modDir, matches[0])
			files[moduleName(l)] = rel
		}
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(modDir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[moduleName(l)] = true
		}
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		switch {
		case state[name] == 2 || builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("module %s depends on itself", name)
		}
		file, ok := files[name]
		if !ok {
			return fmt.Errorf("module %s: neither built in nor in %s", name, modDir)
		}
		state[name] = 1
		deps, err := moduleDepends(filepath.Join(modDir, file))
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, file)
		return nil
	}
	for _, w := range wanted {
		if err := visit(strings.ReplaceAll(w, "-", "_")); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	tmp, err := os.CreateTemp("", "flightrec-module-")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := unpackModule(path, tmp.Name()); err != nil {
		return nil, err
	}
	f, err := elf.Open(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, "depends="); ok {
			var deps []string
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					deps = append(deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// moduleName is the name a module file loads as: kernel/fs/9p/9p.ko.xz → 9p.
func moduleName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// initramfs describes the guest's first root file system.
type initramfs struct {
	root    string            // a userland to start from, or "" for busybox alone
	busybox string            // a static busybox for the guest's architecture
	modDir  string            // the kernel's module tree
	modules []string          // module files (relative to modDir) to load, in order
	files   map[string]string // path in the guest → file on the host
	dirs    []string          // empty directories to make in the guest
	env     map[string]string // written to /guest.env
}

// build writes the initramfs as a gzipped newc cpio archive to out.
func (ir *initramfs) build(out string) error {
	stage, err := os.MkdirTemp("", "flightrec-initramfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if ir.root != "" {
		if b, err := exec.Command("cp", "-a", ir.root+"/.", stage).CombinedOutput(); err != nil {
			return fmt.Errorf("copying the userland: %w\n%s", err, b)
		}
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "modules", ".bb"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(ir.busybox, filepath.Join(stage, ".bb", "busybox"), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(stage, "bin", "sh")); err != nil {
		if err := os.Symlink("/.bb/busybox", filepath.Join(stage, "bin", "sh")); err != nil {
			return err
		}
	}
	var names []string
	for _, m := range ir.modules {
		name := moduleName(m)
		names = append(names, name)
		if err := unpackModule(filepath.Join(ir.modDir, m), filepath.Join(stage, "modules", name+".ko")); err != nil {
			return err
		}
	}
	for guest, host := range ir.files {
		dst := filepath.Join(stage, guest)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(host, dst, 0o755); err != nil {
			return err
		}
	}
	for _, d := range ir.dirs {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	env := map[string]string{"MODULES": strings.Join(names, " ")}
	for k, v := range ir.env {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s='%s'\n", k, env[k])
	}
	if err := os.WriteFile(filepath.Join(stage, "guest.env"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("sh", "-c", `find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1 >"$1"`, "sh", out)
	cmd.Dir = stage
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("packing the initramfs: %w\n%s", err, b)
	}
	return nil
}

// unpackModule copies a module, decompressing .ko.xz and .ko.zst: the
// guest's busybox insmod takes plain .ko files.
func unpackModule(src, dst string) error {
	var cmd *exec.Cmd
	switch {
	case strings.HasSuffix(src, ".xz"):
		cmd = exec.Command("xz", "-dc", src)
	case strings.HasSuffix(src, ".zst"):
		cmd = exec.Command("zstd", "-dcq", src)
	case strings.HasSuffix(src, ".gz"):
		cmd = exec.Command("gzip", "-dc", src)
	default:
		return copyFile(src, dst, 0o644)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("decompressing %s: %w %s", src, err, stderr.String())
	}
	return out.Close()
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
