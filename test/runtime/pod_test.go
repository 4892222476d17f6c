package runtime_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// testParentPrefix starts the name of every test's cgroup parent.
const testParentPrefix = "flightrec-rt-"

// cgroupParent is a test's own cgroup subtree: its pods' cgroups go below
// it, kubelet-style, in the cgroup2 hierarchy (what the exporter records)
// and, on a hybrid host, in every v1 hierarchy runc uses too.
type cgroupParent struct {
	Path  string // "/flightrec-rt-<hex>": what --recorder.cgroup-parent gets
	Mount string // the cgroup2 mount
}

// newCgroupParent creates the test's parent in the cgroup2 hierarchy (the
// exporter needs it to exist at start) and removes it, with everything
// below it in every hierarchy, when the test ends.
func newCgroupParent(t *testing.T) *cgroupParent {
	t.Helper()
	mount, err := cgroups.FindMount()
	if err != nil {
		t.Fatalf("cgroup2: %v", err)
	}
	p := &cgroupParent{Path: "/" + testParentPrefix + testenv.RandomHex(4), Mount: mount}
	madeMu.Lock()
	if madeClosed {
		madeMu.Unlock()
		t.Fatal("the run is being cleaned up")
	}
	err = os.Mkdir(filepath.Join(mount, p.Path), 0o755)
	if err == nil {
		madeParents = append(madeParents, p.Path)
	}
	madeMu.Unlock()
	if err != nil {
		t.Fatalf("creating the test's cgroup parent: %v", err)
	}
	t.Cleanup(func() {
		for _, err := range removeCgroupTrees(p.Path) {
			t.Error(err)
		}
	})
	return p
}

// PodCgroup is the cgroup parent kubelet's cgroupfs driver gives a
// best-effort pod, below the test's parent.
func (p *cgroupParent) PodCgroup(uid string) string {
	return p.Path + "/kubepods/besteffort/pod" + uid
}

// cgroupMounts lists the mount points of every cgroup hierarchy, v1 and v2.
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// The filesystem type follows the " - " separator.
		line := s.Text()
		fields := strings.Fields(line)
		sep := strings.Index(line, " - ")
		if len(fields) < 5 || sep < 0 {
			continue
		}
		if fstype := strings.Fields(line[sep+3:]); len(fstype) > 0 && (fstype[0] == "cgroup" || fstype[0] == "cgroup2") {
			out = append(out, unescapeOctal(fields[4]))
		}
	}
	return out, s.Err()
}

// removeCgroupTrees removes the cgroup rel and everything below it in every
// hierarchy, deepest first, waiting a little for cgroups whose last process
// is still leaving.
func removeCgroupTrees(rel string) []error {
	mounts, err := cgroupMounts()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, m := range mounts {
		root := filepath.Join(m, rel)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := os.Remove(d)
				if err == nil || errors.Is(err, os.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
					errs = append(errs, fmt.Errorf("removing cgroup %s: %w (processes: %q)", d, err, strings.TrimSpace(string(procs))))
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return errs
}

// madeParents are the cgroup parents this test binary created; once
// madeClosed is set (the run is being cleaned up), no more are made.
var (
	madeMu      sync.Mutex
	madeParents []string
	madeClosed  bool
)

// leftoverCgroups lists the parents this test binary created that are
// still present in any hierarchy.
func leftoverCgroups() []string {
	mounts, _ := cgroupMounts()
	madeMu.Lock()
	defer madeMu.Unlock()
	var out []string
	for _, m := range mounts {
		for _, p := range madeParents {
			if _, err := os.Stat(filepath.Join(m, p)); err == nil {
				out = append(out, filepath.Join(m, p))
			}
		}
	}
	return out
}

// The CRI namespace modes (runtime.v1.NamespaceMode).
const (
	nsPod       = 0 // shared by the pod's containers
	nsContainer = 1 // the container's own
	nsNode      = 2 // the host's
)

// pod is a pod sandbox created over CRI as kubelet creates one.
type pod struct {
	Namespace, Name, UID string
	ID                   string // the sandbox's runtime id
	Cgroup               string // its cgroup parent (kubelet's pod cgroup)

	rt       *containerd
	config   string // the sandbox config file, which crictl create reads again
	pidMode  int
	logDir   string
	attempts map[string]int
}

// sandboxConfig is the part of CRI's PodSandboxConfig the tests set, in
// crictl's JSON form.
type sandboxConfig struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
		Attempt   int    `json:"attempt"`
	} `json:"metadata"`
	LogDirectory string            `json:"log_directory"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Linux        struct {
		CgroupParent    string `json:"cgroup_parent"`
		SecurityContext struct {
			NamespaceOptions namespaceOptions `json:"namespace_options"`
		} `json:"security_context"`
	} `json:"linux"`
}

type namespaceOptions struct {
	Network int `json:"network"`
	PID     int `json:"pid"`
	IPC     int `json:"ipc"`
}

// containerConfig is the part of CRI's ContainerConfig the tests set.
type containerConfig struct {
	Metadata struct {
		Name    string `json:"name"`
		Attempt int    `json:"attempt"`
	} `json:"metadata"`
	Image struct {
		Image string `json:"image"`
	} `json:"image"`
	Command     []string          `json:"command"`
	Args        []string          `json:"args,omitempty"`
	LogPath     string            `json:"log_path"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Linux       struct {
		SecurityContext struct {
			NamespaceOptions namespaceOptions `json:"namespace_options"`
			ReadonlyRootfs   bool             `json:"readonly_rootfs"`
			MaskedPaths      []string         `json:"masked_paths"`
			ReadonlyPaths    []string         `json:"readonly_paths"`
		} `json:"security_context"`
	} `json:"linux"`
}

// kubeletMaskedPaths and kubeletReadonlyPaths are what kubelet sends for
// a container without a privileged or custom proc mount: with them the
// container cannot write the host's /proc/sys, even in the host's
// network namespace.
var (
	kubeletMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	kubeletReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// runPod creates and starts a host-network pod sandbox namespace/name
// below the test's cgroup parent; pidMode is the pod's and its containers'
// PID namespace mode (nsContainer, as kubelet does by default, or nsPod for
// shareProcessNamespace). It removes the pod, its containers with it, when
// the test ends.
func runPod(t *testing.T, rt *containerd, parent *cgroupParent, namespace, name string, pidMode int) *pod {
	t.Helper()
	p := &pod{Namespace: namespace, Name: name, UID: testenv.RandomUID(), rt: rt, pidMode: pidMode, attempts: map[string]int{}}
	p.Cgroup = parent.PodCgroup(p.UID)
	p.logDir = filepath.Join(rt.Dir, "logs", p.UID)
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		t.Fatalf("pod log dir: %v", err)
	}
	var cfg sandboxConfig
	cfg.Metadata.Name, cfg.Metadata.Namespace, cfg.Metadata.UID = name, namespace, p.UID
	cfg.LogDirectory = p.logDir
	cfg.Labels = map[string]string{"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.uid": p.UID}
	cfg.Annotations = map[string]string{"kubernetes.io/config.source": "api"}
	cfg.Linux.CgroupParent = p.Cgroup
	// Host network, and so no hostname: the host's UTS namespace comes
	// with it, and setting one would rename the host.
	cfg.Linux.SecurityContext.NamespaceOptions = namespaceOptions{Network: nsNode, PID: pidMode, IPC: nsPod}
	p.config = filepath.Join(p.logDir, "sandbox.json")
	writeJSON(t, p.config, cfg)
	p.ID = rt.MustCrictl(t, "runp", p.config)
	t.Cleanup(func() {
		if _, err := rt.Crictl("stopp", p.ID); err != nil {
			t.Errorf("stopping pod %s/%s: %v", namespace, name, err)
		}
		if _, err := rt.Crictl("rmp", "-f", p.ID); err != nil {
			t.Errorf("removing pod %s/%s: %v", namespace, name, err)
		}
	})
	return p
}

// CreateContainer creates (not starts) container name in the pod running
// command, with kubelet's labels and security settings. Each call for the
// same name is the next attempt, as kubelet restarts a container: a new
// runtime container with the same name. It returns the container's id.
func (p *pod) CreateContainer(t *testing.T, name string, command ...string) string {
	t.Helper()
	attempt := p.attempts[name]
	p.attempts[name]++
	var cfg containerConfig
	cfg.Metadata.Name, cfg.Metadata.Attempt = name, attempt
	cfg.Image.Image = appImage
	cfg.Command = command
	cfg.LogPath = fmt.Sprintf("%s/%d.log", name, attempt)
	cfg.Labels = map[string]string{
		"io.kubernetes.pod.name": p.Name, "io.kubernetes.pod.namespace": p.Namespace,
		"io.kubernetes.pod.uid": p.UID, "io.kubernetes.container.name": name,
	}
	cfg.Annotations = map[string]string{"io.kubernetes.container.restartCount": strconv.Itoa(attempt),
		"io.kubernetes.container.terminationMessagePath": "/dev/termination-log"}
	sc := &cfg.Linux.SecurityContext
	sc.NamespaceOptions = namespaceOptions{Network: nsNode, PID: p.pidMode, IPC: nsPod}
	sc.ReadonlyRootfs = true
	sc.MaskedPaths, sc.ReadonlyPaths = kubeletMaskedPaths, kubeletReadonlyPaths
	path := filepath.Join(p.logDir, fmt.Sprintf("%s-%d.json", name, attempt))
	writeJSON(t, path, cfg)
	return p.rt.MustCrictl(t, "create", "--no-pull", p.ID, path, p.config)
}

// RunContainer creates and starts the next attempt of container name.
func (p *pod) RunContainer(t *testing.T, name string, command ...string) string {
	t.Helper()
	id := p.CreateContainer(t, name, command...)
	p.checkConfined(t, id)
	p.rt.MustCrictl(t, "start", id)
	return id
}

// checkConfined fails the test, before container id starts, unless the
// runtime's spec for it has a read-only root and a read-only /proc/sys: a
// host-network container must never be able to write the host's sysctls
// or hostname.
func (p *pod) checkConfined(t *testing.T, id string) {
	t.Helper()
	out := p.rt.MustCrictl(t, "inspect", "-o", "json", id)
	var v struct {
		Info struct {
			RuntimeSpec struct {
				Root struct {
					Readonly bool `json:"readonly"`
				} `json:"root"`
				Linux struct {
					ReadonlyPaths []string `json:"readonlyPaths"`
				} `json:"linux"`
			} `json:"runtimeSpec"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("crictl inspect %s: %v", id, err)
	}
	spec := v.Info.RuntimeSpec
	if !spec.Root.Readonly || !slices.Contains(spec.Linux.ReadonlyPaths, "/proc/sys") {
		t.Fatalf("container %s would run with a writable root (%v) or /proc/sys (read-only paths %v): not started",
			id, !spec.Root.Readonly, spec.Linux.ReadonlyPaths)
	}
}

// ContainerCgroup is the cgroup of container id, relative to the cgroup2 mount.
func (p *pod) ContainerCgroup(id string) string { return p.Cgroup + "/" + id }

// containerStatus is what the tests read of `crictl inspect`.
type containerStatus struct {
	State      string `json:"state"`
	ExitCode   int    `json:"exitCode"`
	Reason     string `json:"reason"`
	StartedAt  string `json:"startedAt"`
	FinishedAt string `json:"finishedAt"`
}

// Status inspects container id.
func (p *pod) Status(t *testing.T, id string) containerStatus {
	t.Helper()
	out := p.rt.MustCrictl(t, "inspect", "-o", "json", id)
	var v struct {
		Status containerStatus `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("crictl inspect %s: %v\n%s", id, err, out)
	}
	return v.Status
}

// WaitExited waits until container id has exited and returns its status.
func (p *pod) WaitExited(t *testing.T, id string) containerStatus {
	t.Helper()
	var st containerStatus
	testenv.WaitFor(t, "container "+id[:12]+" to exit", func() bool {
		st = p.Status(t, id)
		return st.State == "CONTAINER_EXITED"
	})
	return st
}

// Log is what container id wrote to its standard output and error.
func (p *pod) Log(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("crictl", "--config", p.rt.crictlCfg, "-r", p.rt.Endpoint(), "logs", id).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("crictl logs %s: %v: %s", id, err, out)
	}
	return string(out)
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("encoding %s: %v", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}
