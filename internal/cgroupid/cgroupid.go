// Package cgroupid interprets cgroup v2 paths: it tells which container
// runtime, container, Kubernetes pod and QoS class, or systemd unit a cgroup
// belongs to, judging only by the names the runtimes and kubelet give their
// cgroups. It does no I/O, so it works on paths taken from eBPF events,
// /proc/<pid>/cgroup or a walk of /sys/fs/cgroup alike.
//
// Both kubelet cgroup drivers are understood:
//
//	systemd:  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
//	cgroupfs: /kubepods/burstable/pod<uid-with-dashes>/<id>
//
// as are the runc "slice:prefix:id" form seen when containerd runs inside a
// container (kind, k3d), plain Docker and Podman containers, and ordinary
// systemd units.
package cgroupid

import "strings"

// Runtime names reported in [Identity.Runtime].
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeDocker     = "docker"
	RuntimePodman     = "podman"
)

// Kubernetes QoS classes reported in [Identity.QoSClass].
const (
	QoSGuaranteed = "guaranteed"
	QoSBurstable  = "burstable"
	QoSBestEffort = "besteffort"
)

// Identity is what a cgroup path tells about the workload in it.
//
// When containers nest (Docker in Docker, a kind node's containers seen from
// the host), the innermost container wins. A kubepods hierarchy starts afresh:
// the kubepods root, QoS and pod cgroups themselves carry no ContainerID even
// when they sit inside another container.
type Identity struct {
	// Runtime is "containerd", "cri-o", "docker" or "podman" when the path
	// names the runtime, "" otherwise. It is also "" for a container found
	// under the kubelet's cgroupfs driver (/kubepods/.../pod<uid>/<id>),
	// whose cgroup name carries no runtime prefix.
	Runtime string
	// ContainerID is the full 64-hex container id, lowercase. Ids of any
	// other length, with upper-case or non-hex characters, are not taken
	// as container ids.
	ContainerID string
	// Conmon is set for the cgroup of a conmon monitor process
	// (crio-conmon-<id>.scope, libpod-conmon-<id>.scope). Such a cgroup is
	// not the container: ContainerID then names the container that conmon
	// supervises.
	Conmon bool
	// PodUID is the Kubernetes pod UID in canonical dashed form
	// (8-4-4-4-12, 36 characters), "" if none.
	PodUID string
	// StaticPodHash is set instead of PodUID for static pods (from
	// manifests read by the kubelet), which the kubelet identifies by a
	// 32-hex hash of their config. It equals the value of the
	// "kubernetes.io/config.mirror" annotation on the mirror pod.
	StaticPodHash string
	// QoSClass is "guaranteed", "burstable" or "besteffort" inside a pod
	// cgroup or a QoS cgroup of kubepods, "" otherwise.
	QoSClass string
	// Unit is the systemd unit name, e.g. "nginx.service",
	// "session-3.scope" or "getty@tty1.service", for paths outside any
	// container and outside kubepods; "" otherwise. It is the innermost
	// service, scope, socket, mount or swap unit on the path; slices are
	// not reported.
	Unit string
	// Kubernetes is set when the path lies at or below a kubepods cgroup,
	// under either kubelet cgroup driver.
	Kubernetes bool
}

// IsContainer reports whether the path is a container's own cgroup (or lies
// below one) rather than a conmon monitor, a pod, or a host unit.
func (id Identity) IsContainer() bool {
	return id.ContainerID != "" && !id.Conmon
}

// ShortID returns the first 12 characters of a container id, as docker and
// crictl print it. Shorter strings are returned unchanged; the cut never
// splits a UTF-8 sequence.
func ShortID(id string) string {
	const n = 12
	count := 0
	for i := range id {
		if count == n {
			return id[:i]
		}
		count++
	}
	return id
}

// Label returns a human-readable label for the cgroup at path, meant for plain
// hosts: the systemd unit name, else the short container id ("conmon-" and the
// short id for a conmon cgroup, so it does not collide with its container),
// else path itself.
func (id Identity) Label(path string) string {
	switch {
	case id.Unit != "":
		return id.Unit
	case id.ContainerID != "" && id.Conmon:
		return "conmon-" + ShortID(id.ContainerID)
	case id.ContainerID != "":
		return ShortID(id.ContainerID)
	}
	return path
}

// kind classifies a path component for the benefit of the one after it,
// since cgroupfs layouts are only recognisable by parent and child together.
type kind uint8

const (
	kindOther    kind = iota
	kindKubeRoot      // cgroupfs "kubepods"
	kindKubeQoS       // cgroupfs "besteffort"/"burstable" right under kubepods
	kindPod           // a pod cgroup, either driver
	kindDocker        // cgroupfs "docker"
)

// Parse interprets a cgroup v2 path relative to the cgroup2 mount, such as
// "/kubepods.slice/.../cri-containerd-<id>.scope" or "/system.slice/nginx.service".
//
// The path must be absolute. Empty components ("//", a trailing "/") are
// ignored. A relative path, or one with a "." or ".." component, yields the
// zero Identity. Parse never panics and runs in time linear in len(path).
func Parse(path string) Identity {
	var id Identity
	if path == "" || path[0] != '/' {
		return id
	}
	var (
		prev kind
		unit string
	)
	for rest := path[1:]; rest != ""; {
		comp := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			comp, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		switch comp {
		case "":
			continue
		case ".", "..":
			return Identity{}
		}
		prev = id.component(comp, prev, &unit)
	}
	if id.ContainerID == "" && !id.Kubernetes {
		id.Unit = unit
	}
	return id
}

// component folds one path component into id and returns its kind. unit
// tracks the innermost systemd unit name seen.
func (id *Identity) component(c string, prev kind, unit *string) kind {
	// cgroupfs driver: /kubepods[/besteffort|/burstable]/pod<uid>/<id>
	switch {
	case c == "kubepods":
		id.enterKube("", "", "", false)
		return kindKubeRoot
	case prev == kindKubeRoot && (c == QoSBestEffort || c == QoSBurstable):
		id.enterKube(c, "", "", false)
		return kindKubeQoS
	case (prev == kindKubeRoot || prev == kindKubeQoS) && strings.HasPrefix(c, "pod"):
		if uid, hash, ok := parsePodUID(c[len("pod"):], '-'); ok {
			qos := id.QoSClass
			if prev == kindKubeRoot {
				qos = QoSGuaranteed
			}
			id.enterKube(qos, uid, hash, true)
			return kindPod
		}
	}

	// systemd driver: kubepods[-<qos>][-pod<uid>].slice, possibly with
	// parent slice names in front (kubelet-kubepods-...).
	if strings.HasSuffix(c, ".slice") {
		if ks, ok := parseKubeSlice(c); ok {
			id.enterKube(ks.qos, ks.uid, ks.hash, ks.pod)
			if ks.pod {
				return kindPod
			}
		}
		return kindOther
	}

	// runc's systemd cgroupsPath form "<slice>:<prefix>:<id>", which shows
	// up verbatim when containerd has no systemd to hand it to.
	// The slice part counts even when the prefix or id is not understood.
	if slice, prefix, cid, ok := splitColonForm(c); ok {
		if ks, ok := parseKubeSlice(slice); ok {
			id.enterKube(ks.qos, ks.uid, ks.hash, ks.pod)
		}
		if rt, conmon, known := runtimeForPrefix(prefix); known && isContainerID(cid) {
			id.setContainer(rt, cid, conmon)
		}
		return kindOther
	}

	// <prefix>-<id>.scope (systemd) or <prefix>-<id> (cgroupfs cri-o/podman).
	name := strings.TrimSuffix(c, ".scope")
	if len(name) > 65 && name[len(name)-65] == '-' {
		cid := name[len(name)-64:]
		if rt, conmon, known := runtimeForPrefix(name[:len(name)-65]); known && isContainerID(cid) {
			id.setContainer(rt, cid, conmon)
			return kindOther
		}
	}

	// A bare id: under a cgroupfs pod, or under /docker.
	if isContainerID(c) {
		switch prev {
		case kindPod:
			id.setContainer("", c, false)
			return kindOther
		case kindDocker:
			id.setContainer(RuntimeDocker, c, false)
			return kindOther
		}
	}

	if c == "docker" {
		return kindDocker
	}
	if isUnitName(c) {
		*unit = c
	}
	return kindOther
}

// enterKube records a kubepods root, QoS or pod cgroup. Everything below it
// belongs to that level, so an enclosing container no longer applies.
func (id *Identity) enterKube(qos, uid, hash string, pod bool) {
	id.Kubernetes = true
	id.QoSClass = qos
	id.PodUID, id.StaticPodHash = "", ""
	if pod {
		id.PodUID, id.StaticPodHash = uid, hash
	}
	id.setContainer("", "", false)
}

func (id *Identity) setContainer(runtime, cid string, conmon bool) {
	id.Runtime, id.ContainerID, id.Conmon = runtime, cid, conmon
}
