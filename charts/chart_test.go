package charts

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const (
	// chartDir is the chart under test, relative to this package.
	chartDir = "flightrec-exporter"
	// repoRoot is the repository root, relative to this package.
	repoRoot = ".."
	// placeholderDir holds stand-ins for the repository files the chart
	// links to, used only while those files do not exist yet.
	placeholderDir = "testdata/placeholders"

	releaseName = "flightrec"
	namespace   = "monitoring"
)

// source is one file of the repository that the chart reads through a
// symbolic link in its files/ directory.
type source struct {
	Link   string // path of the link in the chart, e.g. files/flightrec.rules.yml
	Target string // repository path it points to, e.g. alerts/flightrec.rules.yml
	Data   []byte // what the chart must render: the target, or its placeholder
}

// fixture is the chart as the tests load it.
type fixture struct {
	Path         string   // directory to load and lint
	Sources      []source // the linked files, sorted by Link
	Placeholders []string // targets that were missing and replaced by placeholders
	tmp          string   // temporary copy of the chart, removed by TestMain
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theFixture != nil && theFixture.tmp != "" {
		os.RemoveAll(theFixture.tmp)
	}
	os.Exit(code)
}

// chartFixture returns the chart under test. When every file the chart links
// to exists, that is the chart directory itself, so the tests exercise the
// links as Helm reads them. Otherwise, and only while testdata/placeholders
// exists, it is a temporary copy of the chart in which the missing targets
// are replaced by their placeholders.
func chartFixture(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() { theFixture, fixtureErr = newFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	if len(theFixture.Placeholders) > 0 {
		t.Logf("using placeholders for the missing %s (from %s)", strings.Join(theFixture.Placeholders, ", "), placeholderDir)
	}
	return theFixture
}

func newFixture() (*fixture, error) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("repository root: %w", err)
	}
	f := &fixture{Path: chartDir}
	var missing []string
	filesDir := filepath.Join(chartDir, "files")
	err = filepath.WalkDir(filesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		if d.Type()&fs.ModeSymlink == 0 {
			return fmt.Errorf("%s is a copy: it must be a symbolic link to the repository's file (one source)", path)
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(filepath.Join(filepath.Dir(path), dest))
		if err != nil {
			return err
		}
		target, err := filepath.Rel(root, abs)
		if err != nil || target == ".." || strings.HasPrefix(target, "../") {
			return fmt.Errorf("%s points outside the repository (%s)", path, dest)
		}
		src := source{Link: filepath.ToSlash(rel), Target: filepath.ToSlash(target)}
		src.Data, err = os.ReadFile(abs)
		if errors.Is(err, fs.ErrNotExist) {
			src.Data, err = os.ReadFile(filepath.Join(placeholderDir, target))
			if err != nil {
				return fmt.Errorf("%s links to %s, which does not exist (and no placeholder: %w)", path, target, err)
			}
			missing = append(missing, target)
		} else if err != nil {
			return err
		}
		f.Sources = append(f.Sources, src)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(f.Sources, func(i, j int) bool { return f.Sources[i].Link < f.Sources[j].Link })
	if len(missing) == 0 {
		return f, nil
	}
	f.Placeholders = missing
	if f.tmp, err = os.MkdirTemp("", "flightrec-chart-"); err != nil {
		return nil, err
	}
	f.Path = filepath.Join(f.tmp, chartDir)
	if err := copyChart(chartDir, f.Path, f.Sources); err != nil {
		return nil, err
	}
	return f, nil
}

// copyChart copies the chart directory src to dst, writing the linked files
// with the contents given by sources.
func copyChart(src, dst string, sources []source) error {
	linked := map[string][]byte{}
	for _, s := range sources {
		linked[s.Link] = s.Data
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, ok := linked[filepath.ToSlash(rel)]
		if !ok {
			if data, err = os.ReadFile(path); err != nil {
				return err
			}
		}
		return os.WriteFile(out, data, 0o644)
	})
}

// loadChart loads the chart under test with Helm's loader (which follows the
// symbolic links in files/).
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	f := chartFixture(t)
	// The loader logs every symbolic link it follows; they are expected here.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	c, err := loader.Load(f.Path)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

// kubeVersion is the cluster version the chart is rendered for.
var kubeVersion = &chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}

// monitoringAPIs are the prometheus-operator APIs the rendering cluster has.
var monitoringAPIs = chartutil.VersionSet{
	"monitoring.coreos.com/v1",
	"monitoring.coreos.com/v1/ServiceMonitor",
	"monitoring.coreos.com/v1/PrometheusRule",
}

// renderRaw renders the chart like helm template (client-only dry-run
// install) with values given as YAML, and returns the manifest and the notes.
func renderRaw(t *testing.T, valuesYAML string, apis chartutil.VersionSet) (string, string, error) {
	t.Helper()
	c := loadChart(t)
	vals, err := chartutil.ReadValues([]byte(valuesYAML))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...interface{}) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kubeVersion
	install.APIVersions = apis
	rel, err := install.Run(c, vals.AsMap())
	if err != nil {
		return "", "", err
	}
	if len(rel.Hooks) > 0 {
		t.Errorf("the chart has %d hooks; it should have none", len(rel.Hooks))
	}
	return rel.Manifest, rel.Info.Notes, nil
}

// objects are the decoded objects of a rendered manifest.
type objects struct {
	Kinds               []string // "Kind/name" of every object, in order
	DaemonSets          []*appsv1.DaemonSet
	ServiceAccounts     []*corev1.ServiceAccount
	Services            []*corev1.Service
	Secrets             []*corev1.Secret
	ConfigMaps          []*corev1.ConfigMap
	ClusterRoles        []*rbacv1.ClusterRole
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
	ServiceMonitors     []*monitoringv1.ServiceMonitor
	PrometheusRules     []*monitoringv1.PrometheusRule
	NetworkPolicies     []*networkingv1.NetworkPolicy
	Notes               string
}

// render renders the chart with the given values and decodes every object.
func render(t *testing.T, valuesYAML string) *objects {
	t.Helper()
	manifest, notes, err := renderRaw(t, valuesYAML, monitoringAPIs)
	if err != nil {
		t.Fatalf("rendering with values\n%s\n: %v", valuesYAML, err)
	}
	objs := decodeManifest(t, manifest)
	objs.Notes = notes
	return objs
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifest splits a manifest into documents and decodes each one
// strictly (duplicate keys and unknown fields are errors) into its API type.
// An object of any other kind fails the test.
func decodeManifest(t *testing.T, manifest string) *objects {
	t.Helper()
	objs := &objects{}
	for _, doc := range docSeparator.Split(manifest, -1) {
		if isEmptyDoc(doc) {
			continue
		}
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("invalid YAML: %v\n%s", err, doc)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			t.Fatalf("object without apiVersion/kind: %v\n%s", err, doc)
		}
		var obj any
		switch meta.APIVersion + "/" + meta.Kind {
		case "apps/v1/DaemonSet":
			o := &appsv1.DaemonSet{}
			objs.DaemonSets, obj = append(objs.DaemonSets, o), o
		case "v1/ServiceAccount":
			o := &corev1.ServiceAccount{}
			objs.ServiceAccounts, obj = append(objs.ServiceAccounts, o), o
		case "v1/Service":
			o := &corev1.Service{}
			objs.Services, obj = append(objs.Services, o), o
		case "v1/Secret":
			o := &corev1.Secret{}
			objs.Secrets, obj = append(objs.Secrets, o), o
		case "v1/ConfigMap":
			o := &corev1.ConfigMap{}
			objs.ConfigMaps, obj = append(objs.ConfigMaps, o), o
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			o := &rbacv1.ClusterRole{}
			objs.ClusterRoles, obj = append(objs.ClusterRoles, o), o
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			o := &rbacv1.ClusterRoleBinding{}
			objs.ClusterRoleBindings, obj = append(objs.ClusterRoleBindings, o), o
		case "monitoring.coreos.com/v1/ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			objs.ServiceMonitors, obj = append(objs.ServiceMonitors, o), o
		case "networking.k8s.io/v1/NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			objs.NetworkPolicies, obj = append(objs.NetworkPolicies, o), o
		case "monitoring.coreos.com/v1/PrometheusRule":
			o := &monitoringv1.PrometheusRule{}
			objs.PrometheusRules, obj = append(objs.PrometheusRules, o), o
		default:
			t.Fatalf("unexpected object %s %s/%s:\n%s", meta.APIVersion, meta.Kind, meta.Metadata.Name, doc)
		}
		if err := strictUnmarshal(js, obj); err != nil {
			t.Fatalf("%s %s: %v\n%s", meta.Kind, meta.Metadata.Name, err, doc)
		}
		objs.Kinds = append(objs.Kinds, meta.Kind+"/"+meta.Metadata.Name)
	}
	return objs
}

// strictUnmarshal decodes one JSON value into v, rejecting unknown fields
// and trailing data.
func strictUnmarshal(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

// isEmptyDoc reports whether a YAML document holds only comments and blanks.
func isEmptyDoc(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// daemonSet returns the only DaemonSet and its only container.
func (o *objects) daemonSet(t *testing.T) (*appsv1.DaemonSet, *corev1.Container) {
	t.Helper()
	if len(o.DaemonSets) != 1 {
		t.Fatalf("%d DaemonSets, want 1", len(o.DaemonSets))
	}
	ds := o.DaemonSets[0]
	if n := len(ds.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return ds, &ds.Spec.Template.Spec.Containers[0]
}

// serviceMonitor returns the only ServiceMonitor and its only endpoint.
func (o *objects) serviceMonitor(t *testing.T) (*monitoringv1.ServiceMonitor, *monitoringv1.Endpoint) {
	t.Helper()
	if len(o.ServiceMonitors) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(o.ServiceMonitors))
	}
	sm := o.ServiceMonitors[0]
	if n := len(sm.Spec.Endpoints); n != 1 {
		t.Fatalf("%d ServiceMonitor endpoints, want 1", n)
	}
	return sm, &sm.Spec.Endpoints[0]
}

// args returns the container's arguments as flag name → value; a flag given
// twice fails the test.
func args(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range c.Args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") {
			t.Errorf("argument %q is not a --flag", a)
		}
		if _, dup := m[name]; dup {
			t.Errorf("flag --%s given twice: %q", name, c.Args)
		}
		m[name] = value
	}
	return m
}

func mount(c *corev1.Container, name string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volume(ds *appsv1.DaemonSet, name string) *corev1.Volume {
	for i := range ds.Spec.Template.Spec.Volumes {
		if ds.Spec.Template.Spec.Volumes[i].Name == name {
			return &ds.Spec.Template.Spec.Volumes[i]
		}
	}
	return nil
}

func env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// exporterFlags are the exporter's flags the chart may pass (see
// cmd/flightrec_exporter and collector.AddFlags).
var exporterFlags = map[string]bool{
	"web.listen-address": true, "web.config.file": true, "web.telemetry-path": true, "web.external-url": true,
	"path.cgroupfs": true, "recorder.cgroup-parent": true, "recorder.ring-size": true,
	"recorder.small-ring-size": true, "recorder.memory-budget": true, "recorder.spare-rings": true,
	"recorder.max-containers": true, "recorder.capture-bytes": true, "recorder.reclaim-interval": true,
	"collector.grace-period": true, "collector.syscalls.watch": true,
	"dump.enabled": true, "dump.retention": true, "dump.max-frozen": true, "dump.namespaces": true,
	"dump.exclude-namespaces": true, "dump.peer-selector": true, "dump.peer-namespace": true, "dump.state-dir": true,
	"kubernetes.node-name": true, "bpf.pin-path": true, "log.level": true, "log.format": true,
	"dump.authz": true, "dump.authz.verb": true, "dump.authz.resource": true, "dump.authz.subresource": true,
	"dump.redaction": true, "dump.redact": true, "bpf.fs-path": true,
	"kubernetes.cri-endpoint": true, "dump.peer-scheme": true, "dump.peer-ca-file": true, "dump.peer-server-name": true,
}

func fullname() string { return releaseName + "-flightrec-exporter" }

// manifestOut lets a developer without the helm binary see the default
// rendering: go test ./charts/ -run TestDefaults -args -manifest=/tmp/out.yaml
var manifestOut = flag.String("manifest", "", "write the manifest and notes of the default rendering to this file")

func TestDefaults(t *testing.T) {
	o := render(t, "")
	if *manifestOut != "" {
		manifest, notes, err := renderRaw(t, "", monitoringAPIs)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*manifestOut, []byte(manifest+"\n# NOTES.txt\n"+notes), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantKinds := []string{
		"ServiceAccount/" + fullname(),
		"ConfigMap/" + fullname() + "-flightrec-overview",
		"ConfigMap/" + fullname() + "-flightrec-pod",
		"ClusterRole/" + fullname(),
		"ClusterRoleBinding/" + fullname(),
		"Service/" + fullname(),
		"DaemonSet/" + fullname(),
		"PrometheusRule/" + fullname(),
		"ServiceMonitor/" + fullname(),
		"NetworkPolicy/" + fullname(),
	}
	got := append([]string(nil), o.Kinds...)
	sort.Strings(got)
	sort.Strings(wantKinds)
	if !reflect.DeepEqual(got, wantKinds) {
		t.Errorf("objects:\n got %q\nwant %q", got, wantKinds)
	}
	if len(o.Secrets) != 0 {
		t.Errorf("a web-config Secret without TLS or basic auth")
	}

	ds, c := o.daemonSet(t)
	pod := ds.Spec.Template.Spec
	if ds.Namespace != namespace {
		t.Errorf("DaemonSet namespace %q", ds.Namespace)
	}
	if c.Image != "ghcr.io/flightrec/flightrec_exporter:0.1.0" {
		t.Errorf("image %q", c.Image)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("host namespaces shared: network %v pid %v ipc %v", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}
	if !reflect.DeepEqual(pod.Tolerations, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}) {
		t.Errorf("tolerations %+v, want every node", pod.Tolerations)
	}
	if s := ds.Spec.UpdateStrategy; s.Type != appsv1.RollingUpdateDaemonSetStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("update strategy %+v, want RollingUpdate maxUnavailable 1", s)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 30 {
		t.Errorf("terminationGracePeriodSeconds %v", pod.TerminationGracePeriodSeconds)
	}
	if pod.PriorityClassName != "" {
		t.Errorf("priorityClassName %q by default", pod.PriorityClassName)
	}
	if pod.ServiceAccountName != fullname() {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("pod template lacks selector label %s=%s", k, v)
		}
	}

	// Least privilege.
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged by default")
	}
	if sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Add, []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE"}) ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities %+v, want add BPF PERFMON SYS_RESOURCE, drop ALL", sc.Capabilities)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem not read-only")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("runAsUser %v, want 0", sc.RunAsUser)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", sc.SeccompProfile)
	}

	// Downward API.
	for name, path := range map[string]string{"NODE_NAME": "spec.nodeName", "POD_NAMESPACE": "metadata.namespace"} {
		e := env(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("env %s: %+v, want fieldRef %s", name, e, path)
		}
	}

	// Host mounts.
	for _, m := range []struct {
		name, hostPath, mountPath string
		readOnly                  bool
		propagation               corev1.MountPropagationMode
	}{
		{"cgroupfs", "/sys/fs/cgroup", "/host/sys/fs/cgroup", true, ""},
		{"btf", "/sys/kernel/btf", "/sys/kernel/btf", true, ""},
		{"bpffs", "/sys/fs/bpf", "/host/sys/fs/bpf", false, corev1.MountPropagationHostToContainer},
		{"cri-socket", "/run/containerd/containerd.sock", "/host/run/containerd/containerd.sock", true, ""},
	} {
		vm, v := mount(c, m.name), volume(ds, m.name)
		if vm == nil || v == nil || v.HostPath == nil {
			t.Errorf("%s: no hostPath volume mounted", m.name)
			continue
		}
		if v.HostPath.Path != m.hostPath || vm.MountPath != m.mountPath || vm.ReadOnly != m.readOnly {
			t.Errorf("%s: host %s at %s read-only %v, want host %s at %s read-only %v",
				m.name, v.HostPath.Path, vm.MountPath, vm.ReadOnly, m.hostPath, m.mountPath, m.readOnly)
		}
		if got := ptrValue(vm.MountPropagation); got != m.propagation {
			t.Errorf("%s: mountPropagation %q, want %q", m.name, got, m.propagation)
		}
	}
	if len(c.VolumeMounts) != 4 || len(pod.Volumes) != 4 {
		t.Errorf("%d mounts of %d volumes, want the 4 host paths only", len(c.VolumeMounts), len(pod.Volumes))
	}
	if v := volume(ds, "cri-socket"); v == nil || v.HostPath == nil || ptrValue(v.HostPath.Type) != corev1.HostPathSocket {
		t.Errorf("the CRI socket volume %+v, want a hostPath of type Socket", v)
	}

	// Arguments.
	a := args(t, c)
	for name := range a {
		if !exporterFlags[name] {
			t.Errorf("--%s is not a flag of the exporter", name)
		}
	}
	for name, want := range map[string]string{
		"web.listen-address":       ":9747",
		"web.telemetry-path":       "/metrics",
		"path.cgroupfs":            "/host/sys/fs/cgroup",
		"recorder.cgroup-parent":   "/",
		"recorder.memory-budget":   "192MiB",
		"recorder.small-ring-size": "512",
		"recorder.ring-size":       "4096",
		"recorder.spare-rings":     "64",
		"recorder.max-containers":  "1024",
		"recorder.capture-bytes":   "64",
		"dump.enabled":             "true",
		"dump.peer-selector":       "app.kubernetes.io/instance=flightrec,app.kubernetes.io/name=flightrec-exporter",
		"dump.peer-namespace":      "$(POD_NAMESPACE)",
		"kubernetes.node-name":     "$(NODE_NAME)",
		"bpf.pin-path":             "/host/sys/fs/bpf/flightrec",
		"bpf.fs-path":              "/host/sys/fs/bpf",
		"kubernetes.cri-endpoint":  "/host/run/containerd/containerd.sock",
		"log.level":                "info",
		"log.format":               "logfmt",
		// Closed by default: dumps follow Kubernetes RBAC, secrets are redacted.
		"dump.authz":             "kubernetes",
		"dump.authz.verb":        "get",
		"dump.authz.resource":    "pods",
		"dump.authz.subresource": "log",
		"dump.redaction":         "true",
	} {
		if got, ok := a[name]; !ok || got != want {
			t.Errorf("--%s=%q (given: %v), want %q", name, got, ok, want)
		}
	}
	for _, absent := range []string{"web.config.file", "web.external-url", "dump.namespaces", "dump.state-dir", "kubeconfig", "dump.redact"} {
		if _, ok := a[absent]; ok {
			t.Errorf("--%s given by default", absent)
		}
	}
	// The peer selector selects the DaemonSet's own pods.
	sel := map[string]string{}
	for _, kv := range strings.Split(a["dump.peer-selector"], ",") {
		k, v, _ := strings.Cut(kv, "=")
		sel[k] = v
	}
	if !reflect.DeepEqual(sel, ds.Spec.Selector.MatchLabels) {
		t.Errorf("--dump.peer-selector %v, DaemonSet selector %v", sel, ds.Spec.Selector.MatchLabels)
	}

	// Port and probes.
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 9747 {
		t.Errorf("ports %+v, want http 9747", c.Ports)
	}
	checkHTTPProbes(t, c, corev1.URISchemeHTTP)

	// Resources: the rings are charged to the container (memcg) on Linux >= 5.11.
	// The limit must hold the ring memory budget, the exporter (~50 MiB) and
	// the frozen rings in its heap (--dump.max-frozen=64 large rings of 1,244 KiB).
	const budget, exporter, frozen = 192 << 20, 50 << 20, 64 * 1244 << 10
	if mem := c.Resources.Limits.Memory(); mem.IsZero() || mem.Value() < budget+exporter+frozen {
		t.Errorf("memory limit %v: must hold the 192 MiB ring budget, the exporter and the frozen rings (%d MiB)", mem, (budget+exporter+frozen)>>20)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("no resource requests: %+v", c.Resources.Requests)
	}

	// RBAC: pods get/list/watch, and the reviews that check who asks for a
	// dump; nothing else.
	if len(o.ClusterRoles) != 1 || len(o.ClusterRoleBindings) != 1 || len(o.ServiceAccounts) != 1 {
		t.Fatalf("RBAC objects: %q", o.Kinds)
	}
	wantRules := append(podRules, reviewRules...)
	if !reflect.DeepEqual(o.ClusterRoles[0].Rules, wantRules) {
		t.Errorf("ClusterRole rules %+v, want %+v", o.ClusterRoles[0].Rules, wantRules)
	}
	crb := o.ClusterRoleBindings[0]
	if crb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: o.ClusterRoles[0].Name}) ||
		!reflect.DeepEqual(crb.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: o.ServiceAccounts[0].Name, Namespace: namespace}}) {
		t.Errorf("ClusterRoleBinding %+v %+v", crb.RoleRef, crb.Subjects)
	}
	if o.ServiceAccounts[0].Namespace != namespace {
		t.Errorf("ServiceAccount namespace %q", o.ServiceAccounts[0].Namespace)
	}

	// Service.
	if len(o.Services) != 1 {
		t.Fatalf("%d Services", len(o.Services))
	}
	svc := o.Services[0]
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 ||
		svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 9747 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service %+v, want ClusterIP port http 9747 → http", svc.Spec)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, ds.Spec.Selector.MatchLabels) {
		t.Errorf("Service selector %v, DaemonSet selector %v", svc.Spec.Selector, ds.Spec.Selector.MatchLabels)
	}

	// ServiceMonitor.
	sm, ep := o.serviceMonitor(t)
	if !ep.HonorLabels {
		t.Error("ServiceMonitor without honorLabels: the traced pods' namespace/pod/container would be overwritten")
	}
	if ep.Port != "http" || ep.Path != "/metrics" || ptrValue(ep.Scheme) != "http" || ep.Interval != "30s" {
		t.Errorf("ServiceMonitor endpoint port %q path %q scheme %q interval %q", ep.Port, ep.Path, ptrValue(ep.Scheme), ep.Interval)
	}
	if ep.TLSConfig != nil || ep.BasicAuth != nil {
		t.Errorf("ServiceMonitor with TLS %+v or basic auth %+v while both are off", ep.TLSConfig, ep.BasicAuth)
	}
	checkNodeRelabeling(t, ep)
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the Service lacks", k, v)
		}
	}
	if !reflect.DeepEqual(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
		t.Errorf("ServiceMonitor namespaceSelector %+v", sm.Spec.NamespaceSelector)
	}

	checkNetworkPolicy(t, o, ds, "monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"})

	// Notes: how to reach /dump, with a token.
	for _, want := range []string{
		"kubectl --namespace monitoring port-forward service/" + fullname() + " 9747:9747",
		`curl -H "Authorization: Bearer $TOKEN" 'http://localhost:9747/dump'`,
		"TOKEN=$(kubectl config view --raw --minify -o jsonpath='{.users[0].user.token}')",
		"may get pods/log in a pod's namespace",
		"flightrec_dump_base_url",
	} {
		if !strings.Contains(o.Notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, o.Notes)
		}
	}
}

// podRules and reviewRules are the ClusterRole's rules: read pods, and
// (with dump.authz.mode kubernetes) ask who a token is and what it may do.
var (
	podRules    = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}
	reviewRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
)

// checkNetworkPolicy checks that the only NetworkPolicy selects the
// exporters and admits to their port only Prometheus (pods matching
// promPods in the namespace promNamespace) and the exporters themselves.
func checkNetworkPolicy(t *testing.T, o *objects, ds *appsv1.DaemonSet, promNamespace string, promPods map[string]string) *networkingv1.NetworkPolicy {
	t.Helper()
	if len(o.NetworkPolicies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(o.NetworkPolicies))
	}
	np := o.NetworkPolicies[0]
	if np.Namespace != namespace || !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, ds.Spec.Selector.MatchLabels) ||
		len(np.Spec.PodSelector.MatchExpressions) != 0 {
		t.Errorf("NetworkPolicy %s/%s selects %+v, want the DaemonSet's pods %v", np.Namespace, np.Name, np.Spec.PodSelector, ds.Spec.Selector.MatchLabels)
	}
	if !reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v, want Ingress", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("%d ingress rules, want 1", len(np.Spec.Ingress))
	}
	in := np.Spec.Ingress[0]
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.String() != "http" || ptrValue(in.Ports[0].Protocol) != corev1.ProtocolTCP {
		t.Errorf("ingress ports %+v, want TCP http only", in.Ports)
	}
	if len(in.From) < 2 {
		t.Fatalf("ingress from %+v, want Prometheus and the peers", in.From)
	}
	prom, peers := in.From[0], in.From[1]
	if prom.NamespaceSelector == nil || !reflect.DeepEqual(prom.NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": promNamespace}) ||
		prom.PodSelector == nil || !reflect.DeepEqual(prom.PodSelector.MatchLabels, promPods) || prom.IPBlock != nil {
		t.Errorf("first source %+v %+v, want Prometheus pods %v in namespace %s", prom.NamespaceSelector, prom.PodSelector, promPods, promNamespace)
	}
	if peers.NamespaceSelector != nil || peers.PodSelector == nil || !reflect.DeepEqual(peers.PodSelector.MatchLabels, ds.Spec.Selector.MatchLabels) {
		t.Errorf("second source %+v, want the exporters of the release", peers)
	}
	return np
}

// checkHTTPProbes checks that both probes are HTTP GETs on the port named
// http with the given scheme.
func checkHTTPProbes(t *testing.T, c *corev1.Container, scheme corev1.URIScheme) {
	t.Helper()
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe %+v, want an HTTP GET", name, p)
			continue
		}
		if p.HTTPGet.Scheme != scheme || p.HTTPGet.Port.String() != "http" || p.HTTPGet.Path != "/" {
			t.Errorf("%s probe %s %s %s, want %s on port http, path /", name, p.HTTPGet.Scheme, p.HTTPGet.Port.String(), p.HTTPGet.Path, scheme)
		}
		if p.PeriodSeconds == 0 || p.TimeoutSeconds == 0 || p.FailureThreshold == 0 {
			t.Errorf("%s probe timing not set: %+v", name, p)
		}
	}
}

// checkNodeRelabeling checks that the endpoint adds the node label.
func checkNodeRelabeling(t *testing.T, ep *monitoringv1.Endpoint) {
	t.Helper()
	for _, r := range ep.RelabelConfigs {
		if reflect.DeepEqual(r.SourceLabels, []monitoringv1.LabelName{"__meta_kubernetes_pod_node_name"}) &&
			r.TargetLabel == "node" && strings.EqualFold(r.Action, "replace") {
			return
		}
	}
	t.Errorf("no relabeling node ← __meta_kubernetes_pod_node_name in %+v", ep.RelabelConfigs)
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestServiceMonitorDisabled(t *testing.T) {
	o := render(t, "serviceMonitor: {enabled: false}")
	if len(o.ServiceMonitors) != 0 {
		t.Errorf("ServiceMonitor rendered with serviceMonitor.enabled=false")
	}
	o.daemonSet(t)
	if len(o.Services) != 1 || len(o.PrometheusRules) != 1 {
		t.Errorf("objects %q: the Service and PrometheusRule should remain", o.Kinds)
	}
}

// bcryptHash is a bcrypt hash (of "secret"), as exporter-toolkit expects.
const bcryptHash = "$2y$10$6OE6O1tRAlCxJfcIyMSk6.C0RJlnpLm9mDQz8n3f5ztvIV1yJ2Wwy"

func TestTLS(t *testing.T) {
	o := render(t, `
web:
  tls: {enabled: true, existingSecret: flightrec-tls}
`)
	ds, c := o.daemonSet(t)
	checkHTTPProbes(t, c, corev1.URISchemeHTTPS)
	cfg := webConfig(t, o)
	wantTLS := map[string]any{"cert_file": "/etc/flightrec/tls/tls.crt", "key_file": "/etc/flightrec/tls/tls.key"}
	if !reflect.DeepEqual(cfg["tls_server_config"], wantTLS) || cfg["basic_auth_users"] != nil {
		t.Errorf("web config %v, want tls_server_config %v only", cfg, wantTLS)
	}
	checkWebConfigMounted(t, ds, c)
	v := volume(ds, "tls")
	if v == nil || v.Secret == nil || v.Secret.SecretName != "flightrec-tls" {
		t.Fatalf("TLS secret volume %+v", v)
	}
	if m := mount(c, "tls"); m == nil || m.MountPath != "/etc/flightrec/tls" || !m.ReadOnly {
		t.Errorf("TLS secret mount %+v", m)
	}
	if !reflect.DeepEqual(v.Secret.Items, []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}, {Key: "ca.crt", Path: "ca.crt"}}) {
		t.Errorf("TLS secret items %+v", v.Secret.Items)
	}
	// Forwarded dumps reach the peers over https and verify them as the
	// ServiceMonitor does: the same CA, the Service's name.
	for _, want := range []string{"--dump.peer-scheme=https", "--dump.peer-ca-file=/etc/flightrec/tls/ca.crt",
		"--dump.peer-server-name=" + fullname() + ".monitoring.svc"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}

	_, ep := o.serviceMonitor(t)
	if !ep.HonorLabels || ptrValue(ep.Scheme) != "https" {
		t.Errorf("ServiceMonitor honorLabels %v scheme %q, want true https", ep.HonorLabels, ptrValue(ep.Scheme))
	}
	if ep.TLSConfig == nil || ep.TLSConfig.CA.Secret == nil || ep.TLSConfig.CA.Secret.Name != "flightrec-tls" ||
		ep.TLSConfig.CA.Secret.Key != "ca.crt" || ptrValue(ep.TLSConfig.ServerName) != fullname()+".monitoring.svc" {
		t.Errorf("ServiceMonitor tlsConfig %+v", ep.TLSConfig)
	}
	if ep.BasicAuth != nil {
		t.Errorf("ServiceMonitor basicAuth without users")
	}
	if !strings.Contains(o.Notes, "https://localhost:9747/dump") {
		t.Errorf("NOTES.txt does not use https:\n%s", o.Notes)
	}

	// A tlsConfig given in the values replaces the default one.
	o = render(t, `
web:
  tls: {enabled: true, existingSecret: flightrec-tls}
serviceMonitor:
  tlsConfig: {insecureSkipVerify: true}
`)
	if _, ep := o.serviceMonitor(t); ep.TLSConfig == nil || !ptrValue(ep.TLSConfig.InsecureSkipVerify) || ep.TLSConfig.CA.Secret != nil {
		t.Errorf("ServiceMonitor tlsConfig %+v, want the values' one", ep.TLSConfig)
	}
}

func TestTLSAndBasicAuth(t *testing.T) {
	o := render(t, `
web:
  tls:
    enabled: true
    existingSecret: flightrec-tls
    serverConfig: {min_version: TLS13}
  basicAuth:
    users: {prometheus: "`+bcryptHash+`"}
dump: {authz: {mode: none}}
serviceMonitor:
  basicAuth: {existingSecret: scrape-auth}
`)
	ds, c := o.daemonSet(t)
	cfg := webConfig(t, o)
	want := map[string]any{
		"tls_server_config": map[string]any{
			"cert_file": "/etc/flightrec/tls/tls.crt", "key_file": "/etc/flightrec/tls/tls.key", "min_version": "TLS13",
		},
		"basic_auth_users": map[string]any{"prometheus": bcryptHash},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("web config\n got %v\nwant %v", cfg, want)
	}
	checkWebConfigMounted(t, ds, c)
	if ds.Spec.Template.Annotations["checksum/web-config"] == "" {
		t.Error("no checksum/web-config annotation: pods would not restart when the web config changes")
	}
	// Probes cannot send the password: TCP checks.
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "http" || p.HTTPGet != nil {
			t.Errorf("%s probe %+v, want a TCP check of port http", name, p)
		}
	}
	_, ep := o.serviceMonitor(t)
	if !ep.HonorLabels || ptrValue(ep.Scheme) != "https" || ep.TLSConfig == nil {
		t.Errorf("ServiceMonitor honorLabels %v scheme %q tlsConfig %v", ep.HonorLabels, ptrValue(ep.Scheme), ep.TLSConfig)
	}
	if ba := ep.BasicAuth; ba == nil || ba.Username.Name != "scrape-auth" || ba.Username.Key != "username" ||
		ba.Password.Name != "scrape-auth" || ba.Password.Key != "password" {
		t.Errorf("ServiceMonitor basicAuth %+v", ep.BasicAuth)
	}

	// With an Authorization header the probes are HTTPS GETs again.
	o = render(t, `
web:
  tls: {enabled: true, existingSecret: flightrec-tls}
  basicAuth:
    users: {prometheus: "`+bcryptHash+`"}
dump: {authz: {mode: none}}
serviceMonitor: {enabled: false}
probes:
  httpHeaders: [{name: Authorization, value: Basic cHJvbWV0aGV1czpzZWNyZXQ=}]
`)
	_, c = o.daemonSet(t)
	checkHTTPProbes(t, c, corev1.URISchemeHTTPS)
	if h := c.LivenessProbe.HTTPGet.HTTPHeaders; len(h) != 1 || h[0].Name != "Authorization" {
		t.Errorf("probe headers %+v", h)
	}
}

func TestBasicAuthWithoutTLS(t *testing.T) {
	o := render(t, `
web:
  basicAuth:
    users: {prometheus: "`+bcryptHash+`"}
dump: {authz: {mode: none}}
serviceMonitor:
  basicAuth: {existingSecret: scrape-auth}
`)
	ds, c := o.daemonSet(t)
	if cfg := webConfig(t, o); cfg["tls_server_config"] != nil || cfg["basic_auth_users"] == nil {
		t.Errorf("web config %v, want basic auth only", cfg)
	}
	checkWebConfigMounted(t, ds, c)
	if volume(ds, "tls") != nil {
		t.Error("TLS volume without TLS")
	}
	if _, ep := o.serviceMonitor(t); ptrValue(ep.Scheme) != "http" || ep.TLSConfig != nil || ep.BasicAuth == nil {
		t.Errorf("ServiceMonitor scheme %q tlsConfig %+v basicAuth %+v", ptrValue(ep.Scheme), ep.TLSConfig, ep.BasicAuth)
	}
}

// webConfig returns the parsed web-config.yml of the only Secret.
func webConfig(t *testing.T, o *objects) map[string]any {
	t.Helper()
	if len(o.Secrets) != 1 {
		t.Fatalf("%d Secrets, want the web config", len(o.Secrets))
	}
	s := o.Secrets[0]
	if s.Name != fullname()+"-web-config" {
		t.Errorf("Secret name %q", s.Name)
	}
	text, ok := s.StringData["web-config.yml"]
	if !ok || len(s.StringData) != 1 {
		t.Fatalf("Secret data %v, want web-config.yml", s.StringData)
	}
	var cfg map[string]any
	if err := yaml.UnmarshalStrict([]byte(text), &cfg); err != nil {
		t.Fatalf("web-config.yml: %v\n%s", err, text)
	}
	return cfg
}

// checkWebConfigMounted checks that the web config Secret is mounted and
// passed with --web.config.file.
func checkWebConfigMounted(t *testing.T, ds *appsv1.DaemonSet, c *corev1.Container) {
	t.Helper()
	if got := args(t, c)["web.config.file"]; got != "/etc/flightrec/web/web-config.yml" {
		t.Errorf("--web.config.file=%q", got)
	}
	v, m := volume(ds, "web-config"), mount(c, "web-config")
	if v == nil || v.Secret == nil || v.Secret.SecretName != fullname()+"-web-config" {
		t.Errorf("web config volume %+v", v)
	}
	if m == nil || m.MountPath != "/etc/flightrec/web" || !m.ReadOnly {
		t.Errorf("web config mount %+v", m)
	}
}

func TestPrivileged(t *testing.T) {
	o := render(t, "securityContext: {privileged: true}\npriorityClassName: system-node-critical")
	ds, c := o.daemonSet(t)
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Fatalf("securityContext %+v, want privileged", sc)
	}
	// The API server rejects privileged with allowPrivilegeEscalation=false.
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		t.Error("privileged with allowPrivilegeEscalation=false is invalid")
	}
	if sc.Capabilities != nil {
		t.Errorf("capabilities %+v with privileged", sc.Capabilities)
	}
	if m := mount(c, "bpffs"); m == nil || ptrValue(m.MountPropagation) != corev1.MountPropagationBidirectional {
		t.Errorf("bpffs mount %+v, want Bidirectional when privileged", m)
	}
	for _, name := range []string{"cgroupfs", "btf"} {
		if m := mount(c, name); m == nil || !m.ReadOnly {
			t.Errorf("%s mount %+v, want read-only even when privileged", name, m)
		}
	}
	if ds.Spec.Template.Spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", ds.Spec.Template.Spec.PriorityClassName)
	}
	if ds.Spec.Template.Spec.HostPID || ds.Spec.Template.Spec.HostNetwork {
		t.Error("privileged shares host namespaces")
	}
}

func TestDumpDisabled(t *testing.T) {
	o := render(t, "dump: {enabled: false, namespaces: [a], stateHostPath: /var/lib/flightrec}")
	ds, c := o.daemonSet(t)
	a := args(t, c)
	if a["dump.enabled"] != "false" {
		t.Errorf("--dump.enabled=%q, want false", a["dump.enabled"])
	}
	for name := range a {
		if strings.HasPrefix(name, "dump.") && name != "dump.enabled" {
			t.Errorf("--%s given with the dump disabled", name)
		}
	}
	if volume(ds, "state") != nil {
		t.Error("state volume with the dump disabled")
	}
	if !strings.Contains(o.Notes, "/dump is disabled") || strings.Contains(o.Notes, "port-forward") {
		t.Errorf("NOTES.txt with the dump disabled:\n%s", o.Notes)
	}
	// Metrics still need the pods of the node; nobody asks for dumps.
	if len(o.ClusterRoles) != 1 || !reflect.DeepEqual(o.ClusterRoles[0].Rules, podRules) {
		t.Errorf("ClusterRoles with the dump disabled: %+v, want pods only", o.ClusterRoles)
	}
}

func TestOptionalSettings(t *testing.T) {
	o := render(t, `
image: {tag: v9.9.9}
web: {port: 9999, telemetryPath: /m, externalURL: "https://flightrec.example.com/a b"}
recorder: {cgroupParent: /kubepods.slice, memoryBudget: 1GiB, smallRingSize: 1024, ringSize: 16384, spareRings: 4, maxContainers: 65536, captureBytes: 0, reclaimInterval: 10s}
collector: {gracePeriod: 5m, syscallsWatch: [fsync, futex]}
dump: {retention: 2h, maxFrozen: 0, namespaces: [prod, staging], excludeNamespaces: [kube-system], peerForwarding: false, stateHostPath: /var/lib/flightrec}
bpf: {pin: false}
log: {level: debug, format: json}
extraArgs: ["--no-collector.syscalls"]
service: {port: 8080}
dashboards: {labels: {grafana_dashboard: "yes", team: sre}, annotations: {grafana_folder: flightrec}}
`)
	ds, c := o.daemonSet(t)
	if c.Image != "ghcr.io/flightrec/flightrec_exporter:v9.9.9" {
		t.Errorf("image %q", c.Image)
	}
	a := args(t, c)
	for name, want := range map[string]string{
		"web.listen-address":        ":9999",
		"web.telemetry-path":        "/m",
		"web.external-url":          "https://flightrec.example.com/a b",
		"recorder.cgroup-parent":    "/kubepods.slice",
		"recorder.memory-budget":    "1GiB",
		"recorder.small-ring-size":  "1024",
		"recorder.ring-size":        "16384",
		"recorder.spare-rings":      "4",
		"recorder.max-containers":   "65536",
		"recorder.capture-bytes":    "0",
		"recorder.reclaim-interval": "10s",
		"collector.grace-period":    "5m",
		"collector.syscalls.watch":  "fsync,futex",
		"dump.retention":            "2h",
		"dump.max-frozen":           "0",
		"dump.namespaces":           "prod,staging",
		"dump.exclude-namespaces":   "kube-system",
		"dump.state-dir":            "/var/lib/flightrec",
		"bpf.pin-path":              "",
		"log.level":                 "debug",
		"log.format":                "json",
		"no-collector.syscalls":     "",
	} {
		if got, ok := a[name]; !ok || got != want {
			t.Errorf("--%s=%q (given: %v), want %q", name, got, ok, want)
		}
	}
	if _, ok := a["dump.peer-selector"]; ok {
		t.Error("--dump.peer-selector with dump.peerForwarding=false")
	}
	if mount(c, "bpffs") != nil || volume(ds, "bpffs") != nil {
		t.Error("bpffs mounted with bpf.pin=false")
	}
	if v := volume(ds, "state"); v == nil || v.HostPath == nil || v.HostPath.Path != "/var/lib/flightrec" {
		t.Errorf("state volume %+v", v)
	}
	if c.Ports[0].ContainerPort != 9999 {
		t.Errorf("container port %d", c.Ports[0].ContainerPort)
	}
	if _, ep := o.serviceMonitor(t); ep.Path != "/m" {
		t.Errorf("ServiceMonitor path %q", ep.Path)
	}
	if p := o.Services[0].Spec.Ports[0]; p.Port != 8080 || p.TargetPort.String() != "http" {
		t.Errorf("Service port %+v", p)
	}
	for _, cm := range o.ConfigMaps {
		if cm.Labels["grafana_dashboard"] != "yes" || cm.Labels["team"] != "sre" || cm.Annotations["grafana_folder"] != "flightrec" {
			t.Errorf("ConfigMap %s labels %v annotations %v", cm.Name, cm.Labels, cm.Annotations)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{"web: {tls: {enabled: true}}", "web.tls.existingSecret"},
		{`{web: {basicAuth: {users: {a: "` + bcryptHash + `"}}}, dump: {authz: {mode: none}}}`, "serviceMonitor.basicAuth.existingSecret"},
		{`{web: {basicAuth: {users: {a: "` + bcryptHash + `"}}}, serviceMonitor: {basicAuth: {existingSecret: s}}}`, "dump.authz.mode=kubernetes"},
		{"dump: {authz: {mode: rbac}}", "/dump/authz/mode"},
		{"dump: {authz: {verb: ''}}", "/dump/authz/verb"},
		{"networkPolicy: {extraFrom: [x]}", "/networkPolicy/extraFrom/0"},
		{"web: {basicAuth: {users: {a: plaintext}}}", "/web/basicAuth/users/a"},
		{"recorder: {ringSize: 1000}", "power of two"},
		{"recorder: {ringSize: 0}", "/recorder/ringSize"},
		{"recorder: {smallRingSize: 384}", "recorder.smallRingSize must be a power of two"},
		{"recorder: {smallRingSize: 8}", "/recorder/smallRingSize"},
		{"recorder: {spareRings: 0}", "/recorder/spareRings"},
		{"recorder: {maxContainers: 1000000}", "/recorder/maxContainers"},
		{"recorder: {memoryBudget: 192Mi}", "/recorder/memoryBudget"},
		{"recorder: {memoryBudget: 201326592}", "/recorder/memoryBudget"},
		{"recorder: {captureBytes: 136}", "/recorder/captureBytes"},
		{"securityContext: {privileged: yes-please}", "privileged"},
		{"unknownSetting: 1", "unknownSetting"},
	} {
		_, _, err := renderRaw(t, tc.values, monitoringAPIs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %q: error %v, want one mentioning %q", tc.values, err, tc.want)
		}
	}
}

func TestKubeVersionConstraint(t *testing.T) {
	saved := kubeVersion
	defer func() { kubeVersion = saved }()
	kubeVersion = &chartutil.KubeVersion{Version: "v1.24.9", Major: "1", Minor: "24"}
	if _, _, err := renderRaw(t, "", monitoringAPIs); err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Errorf("rendering for Kubernetes 1.24: error %v, want the chart's kubeVersion >=1.25.0-0 to refuse it", err)
	}
	kubeVersion = &chartutil.KubeVersion{Version: "v1.25.0", Major: "1", Minor: "25"}
	if _, _, err := renderRaw(t, "", monitoringAPIs); err != nil {
		t.Errorf("rendering for Kubernetes 1.25: %v", err)
	}
}

// rulesSource returns the rules file the chart links to.
func rulesSource(t *testing.T) source {
	t.Helper()
	for _, s := range chartFixture(t).Sources {
		if s.Target == "alerts/flightrec.rules.yml" {
			return s
		}
	}
	t.Fatal("the chart does not link to alerts/flightrec.rules.yml")
	return source{}
}

// fallbackDumpBase is the base URL of the rules' dump links when Prometheus
// has no flightrec_dump_base_url external label.
const fallbackDumpBase = "http://flightrec-exporter:9747"

// dumpURLTemplate matches the Prometheus template of the dump links.
var dumpURLTemplate = regexp.MustCompile(`\{\{[^}]*\$externalLabels\.flightrec_dump_base_url\b[^}]*\}\}`)

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	src := rulesSource(t)
	o := render(t, "alerts: {labels: {release: prometheus}}")
	if len(o.PrometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules", len(o.PrometheusRules))
	}
	pr := o.PrometheusRules[0]
	if pr.Labels["release"] != "prometheus" {
		t.Errorf("PrometheusRule labels %v", pr.Labels)
	}

	// The rules file is valid for prometheus-operator (strictly) ...
	js, err := yaml.YAMLToJSONStrict(src.Data)
	if err != nil {
		t.Fatalf("%s: %v", src.Target, err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := strictUnmarshal(js, &want); err != nil {
		t.Fatalf("%s is not a valid PrometheusRule spec: %v", src.Target, err)
	}
	if len(want.Groups) == 0 {
		t.Fatalf("%s has no groups", src.Target)
	}
	// ... and the rendered groups are the file's, both as typed rules and
	// as plain data (nothing added, dropped or reformatted).
	if !reflect.DeepEqual(pr.Spec.Groups, want.Groups) {
		t.Errorf("PrometheusRule groups differ from %s:\n got %+v\nwant %+v", src.Target, pr.Spec.Groups, want.Groups)
	}
	var fileData map[string]any
	if err := json.Unmarshal(js, &fileData); err != nil {
		t.Fatal(err)
	}
	rendered, err := json.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var renderedData map[string]any
	if err := json.Unmarshal(rendered, &renderedData); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(renderedData["groups"], fileData["groups"]) {
		t.Errorf("PrometheusRule groups differ from %s as data", src.Target)
	}

	// The Prometheus templates of the annotations are untouched by Helm.
	links := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			for name, text := range r.Annotations {
				if dumpURLTemplate.MatchString(text) {
					links++
					if name != "dump_url" {
						t.Logf("%s: the dump link is in annotation %q", r.Alert, name)
					}
				}
			}
		}
	}
	if links == 0 {
		t.Errorf("no annotation with {{ $externalLabels.flightrec_dump_base_url }} survived in the PrometheusRule")
	}
	if strings.Count(string(src.Data), "$externalLabels.flightrec_dump_base_url") != links {
		t.Errorf("%d dump links rendered, %d in %s", links, strings.Count(string(src.Data), "$externalLabels.flightrec_dump_base_url"), src.Target)
	}

	// alerts.dumpBaseURL replaces the rules' fallback base of the dump links,
	// and nothing else.
	const base = "https://flightrec.example.com"
	o = render(t, "alerts: {dumpBaseURL: "+base+"/}")
	wantText := strings.ReplaceAll(string(src.Data), fallbackDumpBase, base)
	if wantText == string(src.Data) {
		t.Errorf("%s has no fallback dump URL %s", src.Target, fallbackDumpBase)
	}
	var wantRewritten monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict([]byte(wantText), &wantRewritten); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.PrometheusRules[0].Spec.Groups, wantRewritten.Groups) {
		t.Errorf("with alerts.dumpBaseURL the groups are not the file's with %s replaced by %s", fallbackDumpBase, base)
	}

	o = render(t, "alerts: {enabled: false}")
	if len(o.PrometheusRules) != 0 {
		t.Error("PrometheusRule rendered with alerts.enabled=false")
	}
}

func TestDashboardConfigMaps(t *testing.T) {
	f := chartFixture(t)
	o := render(t, "")
	byFile := map[string]*corev1.ConfigMap{}
	for _, cm := range o.ConfigMaps {
		if len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
			t.Errorf("ConfigMap %s holds %d files, want 1", cm.Name, len(cm.Data))
		}
		for file := range cm.Data {
			byFile[file] = cm
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap %s labels %v, want grafana_dashboard=1", cm.Name, cm.Labels)
		}
		if cm.Namespace != namespace {
			t.Errorf("ConfigMap %s namespace %q", cm.Name, cm.Namespace)
		}
	}
	dashboards := 0
	for _, s := range f.Sources {
		if !strings.HasPrefix(s.Target, "dashboards/") {
			continue
		}
		dashboards++
		file := filepath.Base(s.Target)
		cm := byFile[file]
		if cm == nil {
			t.Errorf("no ConfigMap for %s", s.Target)
			continue
		}
		if cm.Data[file] != string(s.Data) {
			t.Errorf("ConfigMap %s differs from %s", cm.Name, s.Target)
		}
		if !json.Valid([]byte(cm.Data[file])) {
			t.Errorf("%s is not valid JSON", s.Target)
		}
	}
	if dashboards != 2 || len(o.ConfigMaps) != dashboards {
		t.Errorf("%d dashboards linked, %d ConfigMaps; want flightrec-overview and flightrec-pod", dashboards, len(o.ConfigMaps))
	}

	o = render(t, "dashboards: {enabled: false}")
	if len(o.ConfigMaps) != 0 {
		t.Errorf("%d dashboard ConfigMaps with dashboards.enabled=false", len(o.ConfigMaps))
	}
}

// TestEveryRepositoryDashboardIsLinked fails when a dashboard is added to
// dashboards/ without a link in the chart's files/dashboards/.
func TestEveryRepositoryDashboardIsLinked(t *testing.T) {
	f := chartFixture(t)
	linked := map[string]bool{}
	for _, s := range f.Sources {
		linked[s.Target] = true
	}
	for _, want := range []string{"alerts/flightrec.rules.yml", "dashboards/flightrec-overview.json", "dashboards/flightrec-pod.json"} {
		if !linked[want] {
			t.Errorf("the chart does not link to %s", want)
		}
	}
	found, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range found {
		target := "dashboards/" + filepath.Base(path)
		if !linked[target] {
			t.Errorf("%s is not in the chart: ln -s ../../../../%s charts/%s/files/dashboards/", target, target, chartDir)
		}
	}
}

func TestWithoutMonitoringAPIs(t *testing.T) {
	// helm template without --api-versions: still renders (the user decides
	// with serviceMonitor.enabled), and the notes warn.
	manifest, notes, err := renderRaw(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := decodeManifest(t, manifest); len(o.ServiceMonitors) != 1 {
		t.Errorf("%d ServiceMonitors", len(o.ServiceMonitors))
	}
	if !strings.Contains(notes, "WARNING") {
		t.Errorf("no warning about the missing ServiceMonitor API:\n%s", notes)
	}
}

func TestLint(t *testing.T) {
	f := chartFixture(t)
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	lint := action.NewLint()
	lint.Strict = true
	lint.Namespace = namespace
	lint.KubeVersion = kubeVersion
	for _, values := range []string{"", "web: {tls: {enabled: true, existingSecret: s}}\nsecurityContext: {privileged: true}"} {
		vals, err := chartutil.ReadValues([]byte(values))
		if err != nil {
			t.Fatal(err)
		}
		res := lint.Run([]string{f.Path}, vals.AsMap())
		for _, m := range res.Messages {
			t.Logf("lint: %s", m)
		}
		if len(res.Errors) > 0 || res.TotalChartsLinted != 1 {
			t.Errorf("helm lint (values %q): %v", values, res.Errors)
		}
	}
}

// TestPackagedChart checks that helm package stores the linked files'
// contents: the packaged chart has no links and renders the same.
func TestPackagedChart(t *testing.T) {
	c := loadChart(t)
	tgz, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	packaged, err := loader.Load(tgz)
	if err != nil {
		t.Fatalf("loading %s: %v", tgz, err)
	}
	files := map[string][]byte{}
	for _, f := range packaged.Files {
		files[f.Name] = f.Data
	}
	for _, s := range chartFixture(t).Sources {
		if !bytes.Equal(files[s.Link], s.Data) {
			t.Errorf("the packaged chart's %s is not %s", s.Link, s.Target)
		}
	}
	if packaged.Schema == nil || packaged.Metadata.Version != "0.1.0" || packaged.Metadata.AppVersion != "0.1.0" {
		t.Errorf("packaged chart: schema %v, version %q, appVersion %q", packaged.Schema != nil, packaged.Metadata.Version, packaged.Metadata.AppVersion)
	}
}

// TestDumpAccessOptOuts renders each way out of the closed default.
func TestDumpAccessOptOuts(t *testing.T) {
	// No RBAC check: no review rights, and the notes warn.
	o := render(t, "dump: {authz: {mode: none}}")
	_, c := o.daemonSet(t)
	a := args(t, c)
	if a["dump.authz"] != "none" {
		t.Errorf("--dump.authz=%q, want none", a["dump.authz"])
	}
	for _, absent := range []string{"dump.authz.verb", "dump.authz.resource", "dump.authz.subresource"} {
		if _, ok := a[absent]; ok {
			t.Errorf("--%s with dump.authz.mode=none", absent)
		}
	}
	if !reflect.DeepEqual(o.ClusterRoles[0].Rules, podRules) {
		t.Errorf("ClusterRole rules %+v with dump.authz.mode=none, want pods only", o.ClusterRoles[0].Rules)
	}
	if strings.Contains(o.Notes, "Bearer") || !strings.Contains(o.Notes, "to anyone who can reach the Service") {
		t.Errorf("NOTES.txt with dump.authz.mode=none:\n%s", o.Notes)
	}

	// Another permission.
	o = render(t, `dump: {authz: {verb: list, resource: pods, subresource: ""}}`)
	_, c = o.daemonSet(t)
	a = args(t, c)
	if a["dump.authz.verb"] != "list" || a["dump.authz.subresource"] != "" || !strings.Contains(o.Notes, "may list pods in a pod's namespace") {
		t.Errorf("custom permission: args %v\n%s", a, o.Notes)
	}

	// Redaction off, and own patterns.
	o = render(t, `dump: {redaction: false, redact: [builtin, "sk-[a-z]+"]}`)
	_, c = o.daemonSet(t)
	for _, want := range []string{"--dump.redaction=false", "--dump.redact=builtin", "--dump.redact=sk-[a-z]+"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}

	// No NetworkPolicy.
	if o := render(t, "networkPolicy: {enabled: false}"); len(o.NetworkPolicies) != 0 {
		t.Errorf("%d NetworkPolicies with networkPolicy.enabled=false", len(o.NetworkPolicies))
	}
	// Prometheus elsewhere, and more sources.
	o = render(t, `
serviceMonitor: {namespace: observability}
networkPolicy:
  extraFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
`)
	ds, _ := o.daemonSet(t)
	np := checkNetworkPolicy(t, o, ds, "observability", map[string]string{"app.kubernetes.io/name": "prometheus"})
	if from := np.Spec.Ingress[0].From; len(from) != 3 || from[2].NamespaceSelector == nil ||
		from[2].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-nginx" {
		t.Errorf("extraFrom not admitted: %+v", from)
	}
	o = render(t, "networkPolicy: {prometheus: {namespace: prom, podSelector: {matchLabels: {app: prom}}}}")
	checkNetworkPolicy(t, o, ds, "prom", map[string]string{"app": "prom"})
	o = render(t, "networkPolicy: {prometheus: {namespaceSelector: {matchLabels: {team: obs}}, podSelector: {}}}")
	prom := o.NetworkPolicies[0].Spec.Ingress[0].From[0]
	if prom.NamespaceSelector == nil || !reflect.DeepEqual(prom.NamespaceSelector.MatchLabels, map[string]string{"team": "obs"}) || prom.PodSelector != nil {
		t.Errorf("Prometheus by namespace selector: %+v %+v", prom.NamespaceSelector, prom.PodSelector)
	}
}
