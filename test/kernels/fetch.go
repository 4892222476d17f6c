package kernels

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// CacheEnv names the directory where downloaded kernel packages are kept
// between runs; it is outside the clone so that a fresh clone reuses them.
const CacheEnv = "FLIGHTREC_KERNEL_CACHE"

const defaultCache = "/var/cache/flightrec-kernels"

func cacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return defaultCache
}

// debianMirror is the mirror this machine's own apt sources use: the
// kernels of other suites come from the same place.
func debianMirror() (string, error) {
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				return fields[1], nil
			case len(fields) >= 3 && fields[0] == "deb" && !strings.HasPrefix(fields[1], "["):
				return fields[1], nil
			}
		}
	}
	return "", errors.New("no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list")
}

// aptRepo is a private apt configuration for one suite and architecture:
// its sources, lists and caches live in the kernel cache, so the machine's
// own apt setup is neither read for packages nor changed.
type aptRepo struct {
	dir, suite, arch string
}

func newAptRepo(suite, arch string) (*aptRepo, error) {
	mirror, err := debianMirror()
	if err != nil {
		return nil, err
	}
	r := &aptRepo{dir: filepath.Join(cacheDir(), "apt-"+suite+"-"+arch), suite: suite, arch: arch}
	for _, d := range []string{"lists/partial", "parts", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	src := fmt.Sprintf("deb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n", arch, mirror, suite)
	if err := os.WriteFile(filepath.Join(r.dir, "sources.list"), []byte(src), 0o644); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *aptRepo) options() []string {
	return []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(r.dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(r.dir, "parts"),
		"-o", "Dir::State::Lists=" + filepath.Join(r.dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(r.dir, "cache"),
		"-o", "Dir::State::status=/dev/null",
		"-o", "APT::Architecture=" + r.arch,
		"-o", "APT::Architectures::=" + r.arch,
		"-o", "APT::Sandbox::User=root",
	}
}

func (r *aptRepo) run(dir, tool string, args ...string) (string, error) {
	cmd := exec.Command(tool, append(r.options(), args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// fetchPackage downloads the newest version of pkg (or, for a kernel
// metapackage, of the image it depends on) and unpacks it in the cache. A
// package already unpacked there is used without asking the mirror when
// offline is set or the mirror cannot be reached.
func (r *aptRepo) fetchPackage(pkg string) (string, error) {
	stamp := filepath.Join(r.dir, "resolved-"+pkg)
	if _, err := r.run(r.dir, "apt-get", "update", "-qq"); err != nil {
		// Offline: fall back to what an earlier run unpacked.
		if b, rerr := os.ReadFile(stamp); rerr == nil {
			return string(b), nil
		}
		return "", err
	}
	name := pkg
	if strings.HasPrefix(pkg, "linux-image-") {
		out, err := r.run(r.dir, "apt-cache", "depends", pkg)
		if err != nil {
			return "", err
		}
		m := regexp.MustCompile(`Depends: (linux-image-[^\s]+)`).FindStringSubmatch(out)
		if m == nil {
			return "", fmt.Errorf("%s (%s/%s) depends on no kernel image:\n%s", pkg, r.suite, r.arch, out)
		}
		name = m[1]
	}
	dest := filepath.Join(r.dir, "unpacked", name)
	if _, err := os.Stat(filepath.Join(dest, ".complete")); err != nil {
		dl := filepath.Join(r.dir, "debs")
		if err := os.MkdirAll(dl, 0o755); err != nil {
			return "", err
		}
		debs, _ := filepath.Glob(filepath.Join(dl, name+"_*.deb"))
		if len(debs) == 0 {
			if _, err := r.run(dl, "apt-get", "download", "-qq", name+":"+r.arch); err != nil {
				return "", err
			}
			debs, _ = filepath.Glob(filepath.Join(dl, name+"_*.deb"))
		}
		if len(debs) == 0 {
			return "", fmt.Errorf("apt-get download %s left no package in %s", name, dl)
		}
		_ = os.RemoveAll(dest)
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return "", err
		}
		if out, err := exec.Command("dpkg-deb", "-x", debs[len(debs)-1], dest).CombinedOutput(); err != nil {
			return "", fmt.Errorf("unpacking %s: %w\n%s", debs[len(debs)-1], err, out)
		}
		if err := os.WriteFile(filepath.Join(dest, ".complete"), nil, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(stamp, []byte(dest), 0o644); err != nil {
		return "", err
	}
	return dest, nil
}

// userland unpacks pkgs and everything they depend on into a root file
// system for a guest of another architecture, laid out with merged /usr
// like the host's, and returns its directory. Maintainer scripts are not
// run: the tests need the programs and libraries, not configured services.
func (r *aptRepo) userland(pkgs []string) (string, error) {
	dest := filepath.Join(r.dir, "userland-"+strings.Join(pkgs, "+"))
	if _, err := os.Stat(filepath.Join(dest, ".complete")); err == nil {
		return dest, nil
	}
	if _, err := r.run(r.dir, "apt-get", "update", "-qq"); err != nil {
		return "", err
	}
	args := append([]string{"depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances"}, pkgs...)
	out, err := r.run(r.dir, "apt-cache", args...)
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	var all []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || l[0] == ' ' || l[0] == '<' || seen[l] {
			continue
		}
		seen[l] = true
		all = append(all, l+":"+r.arch)
	}
	dl := filepath.Join(r.dir, "debs")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", err
	}
	if _, err := r.run(dl, "apt-get", append([]string{"download", "-qq"}, all...)...); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dest)
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "etc", "tmp", "proc", "sys", "dev", "root", "run"} {
		if err := os.MkdirAll(filepath.Join(dest, d), 0o755); err != nil {
			return "", err
		}
	}
	for _, p := range all {
		name := strings.TrimSuffix(p, ":"+r.arch)
		debs, _ := filepath.Glob(filepath.Join(dl, name+"_*_"+r.arch+".deb"))
		more, _ := filepath.Glob(filepath.Join(dl, name+"_*_all.deb"))
		debs = append(debs, more...)
		if len(debs) == 0 {
			return "", fmt.Errorf("apt-get download %s left no package in %s", name, dl)
		}
		if b, err := exec.Command("dpkg-deb", "-x", debs[len(debs)-1], dest).CombinedOutput(); err != nil {
			return "", fmt.Errorf("unpacking %s: %w\n%s", debs[len(debs)-1], err, b)
		}
	}
	// Merged /usr, as Debian installs it: /bin/cat is /usr/bin/cat.
	for _, d := range []string{"bin", "sbin", "lib"} {
		top := filepath.Join(dest, d)
		if fi, err := os.Lstat(top); err == nil && fi.IsDir() {
			if b, err := exec.Command("cp", "-a", top+"/.", filepath.Join(dest, "usr", d)).CombinedOutput(); err != nil {
				return "", fmt.Errorf("merging /%s: %w\n%s", d, err, b)
			}
			if err := os.RemoveAll(top); err != nil {
				return "", err
			}
		}
		if err := os.Symlink("usr/"+d, top); err != nil {
			return "", err
		}
	}
	if _, err := os.Lstat(filepath.Join(dest, "usr/bin/sh")); err != nil {
		// dash's maintainer script makes /bin/sh; nothing ran it here.
		if err := os.Symlink("dash", filepath.Join(dest, "usr/bin/sh")); err != nil {
			return "", err
		}
	}
	for name, content := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	} {
		if err := os.WriteFile(filepath.Join(dest, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dest, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	return dest, nil
}
