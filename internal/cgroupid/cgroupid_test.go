package cgroupid

import (
	"strings"
	"testing"
)

const (
	idA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
	idB = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
	idC = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"

	uid        = "0f2c3b1a-5d6e-4f70-8a9b-c0d1e2f3a4b5"
	uidSystemd = "0f2c3b1a_5d6e_4f70_8a9b_c0d1e2f3a4b5"
	staticHash = "8277e0910d750195b448797616e091ad"
)

type parseCase struct {
	name string
	path string
	want Identity
}

// parseCases is shared by TestParse and the fuzz seed corpus.
var parseCases = []parseCase{
	// --- kubelet systemd driver ---
	{
		name: "systemd besteffort containerd",
		path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + idA + ".scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "systemd burstable cri-o",
		path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/crio-" + idB + ".scope",
		want: Identity{Runtime: RuntimeCRIO, ContainerID: idB, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "systemd burstable cri-o conmon",
		path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/crio-conmon-" + idB + ".scope",
		want: Identity{Runtime: RuntimeCRIO, ContainerID: idB, Conmon: true, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "systemd guaranteed directly under kubepods.slice",
		path: "/kubepods.slice/kubepods-pod" + uidSystemd + ".slice/cri-containerd-" + idA + ".scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, PodUID: uid, QoSClass: QoSGuaranteed, Kubernetes: true},
	},
	{
		name: "systemd dockershim container",
		path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/docker-" + idC + ".scope",
		want: Identity{Runtime: RuntimeDocker, ContainerID: idC, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "systemd process in container sub-cgroup",
		path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + idA + ".scope/init.scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "systemd pod-level cgroup",
		path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice",
		want: Identity{PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "systemd guaranteed pod-level cgroup",
		path: "/kubepods.slice/kubepods-pod" + uidSystemd + ".slice",
		want: Identity{PodUID: uid, QoSClass: QoSGuaranteed, Kubernetes: true},
	},
	{
		name: "systemd QoS cgroup",
		path: "/kubepods.slice/kubepods-burstable.slice",
		want: Identity{QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "systemd kubepods root",
		path: "/kubepods.slice",
		want: Identity{Kubernetes: true},
	},
	{
		name: "systemd static pod",
		path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + staticHash + ".slice/cri-containerd-" + idA + ".scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, StaticPodHash: staticHash, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "systemd pod with dashed uid is not a pod slice",
		path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid + ".slice",
		want: Identity{QoSClass: QoSBestEffort, Kubernetes: true},
	},

	// --- kubelet cgroupfs driver ---
	{
		name: "cgroupfs besteffort",
		path: "/kubepods/besteffort/pod" + uid + "/" + idA,
		want: Identity{ContainerID: idA, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "cgroupfs burstable",
		path: "/kubepods/burstable/pod" + uid + "/" + idB,
		want: Identity{ContainerID: idB, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "cgroupfs guaranteed",
		path: "/kubepods/pod" + uid + "/" + idC,
		want: Identity{ContainerID: idC, PodUID: uid, QoSClass: QoSGuaranteed, Kubernetes: true},
	},
	{
		name: "cgroupfs cri-o",
		path: "/kubepods/burstable/pod" + uid + "/crio-" + idB,
		want: Identity{Runtime: RuntimeCRIO, ContainerID: idB, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "cgroupfs cri-o conmon",
		path: "/kubepods/burstable/pod" + uid + "/crio-conmon-" + idB,
		want: Identity{Runtime: RuntimeCRIO, ContainerID: idB, Conmon: true, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "cgroupfs pod-level cgroup",
		path: "/kubepods/besteffort/pod" + uid,
		want: Identity{PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "cgroupfs static pod",
		path: "/kubepods/burstable/pod" + staticHash + "/" + idA,
		want: Identity{ContainerID: idA, StaticPodHash: staticHash, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "cgroupfs underscored uid is not a pod",
		path: "/kubepods/besteffort/pod" + uidSystemd + "/" + idA,
		want: Identity{QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "cgroupfs qos name only counts right under kubepods",
		path: "/kubepods/pod" + uid + "/burstable",
		want: Identity{PodUID: uid, QoSClass: QoSGuaranteed, Kubernetes: true},
	},
	{
		name: "cgroupfs trailing slash and doubled slashes",
		path: "//kubepods//besteffort/pod" + uid + "/" + idA + "/",
		want: Identity{ContainerID: idA, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},

	// --- nested kubepods (kind, k3d, kubelet cgroup-root) ---
	{
		name: "kind containerd slice:prefix:id form",
		path: "/system.slice/containerd.service/kubepods-burstable-pod" + uidSystemd + ".slice:cri-containerd:" + idA,
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "kind besteffort slice:prefix:id form",
		path: "/system.slice/containerd.service/kubepods-besteffort-pod" + uidSystemd + ".slice:cri-containerd:" + idB,
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idB, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "kind guaranteed slice:prefix:id form",
		path: "/system.slice/containerd.service/kubepods-pod" + uidSystemd + ".slice:cri-containerd:" + idB,
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idB, PodUID: uid, QoSClass: QoSGuaranteed, Kubernetes: true},
	},
	{
		name: "colon form with unknown prefix",
		path: "/system.slice/containerd.service/kubepods-besteffort-pod" + uidSystemd + ".slice:foo:" + idB,
		want: Identity{PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "colon form with bad id",
		path: "/system.slice/containerd.service/kubepods-besteffort-pod" + uidSystemd + ".slice:cri-containerd:" + idB[:40],
		want: Identity{PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "colon form outside kubepods",
		path: "/system.slice:docker:" + idB,
		want: Identity{Runtime: RuntimeDocker, ContainerID: idB},
	},
	{
		name: "kubelet cgroup-root /kubelet",
		path: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + idA + ".scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "kind node seen from host",
		path: "/system.slice/docker-" + idC + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" + uidSystemd + ".slice/cri-containerd-" + idA + ".scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA, PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "kind node pod-level cgroup drops the node container",
		path: "/system.slice/docker-" + idC + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" + uidSystemd + ".slice",
		want: Identity{PodUID: uid, QoSClass: QoSBurstable, Kubernetes: true},
	},
	{
		name: "kind node itself",
		path: "/system.slice/docker-" + idC + ".scope/kubelet.slice",
		want: Identity{Runtime: RuntimeDocker, ContainerID: idC},
	},
	{
		name: "k3d node with cgroupfs kubelet",
		path: "/docker/" + idC + "/kubepods/besteffort/pod" + uid + "/" + idA,
		want: Identity{ContainerID: idA, PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},

	// --- plain docker / podman ---
	{
		name: "docker systemd driver",
		path: "/system.slice/docker-" + idA + ".scope",
		want: Identity{Runtime: RuntimeDocker, ContainerID: idA},
	},
	{
		name: "docker cgroupfs driver",
		path: "/docker/" + idA,
		want: Identity{Runtime: RuntimeDocker, ContainerID: idA},
	},
	{
		name: "docker in docker",
		path: "/docker/" + idA + "/docker/" + idB,
		want: Identity{Runtime: RuntimeDocker, ContainerID: idB},
	},
	{
		name: "systemd in a docker container",
		path: "/system.slice/docker-" + idA + ".scope/system.slice/nginx.service",
		want: Identity{Runtime: RuntimeDocker, ContainerID: idA},
	},
	{
		name: "podman rootful",
		path: "/machine.slice/libpod-" + idB + ".scope",
		want: Identity{Runtime: RuntimePodman, ContainerID: idB},
	},
	{
		name: "podman conmon",
		path: "/machine.slice/libpod-conmon-" + idB + ".scope",
		want: Identity{Runtime: RuntimePodman, ContainerID: idB, Conmon: true},
	},
	{
		name: "podman rootless with container sub-cgroup",
		path: "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idC + ".scope/container",
		want: Identity{Runtime: RuntimePodman, ContainerID: idC},
	},
	{
		name: "podman cgroupfs",
		path: "/libpod_parent/libpod-" + idC,
		want: Identity{Runtime: RuntimePodman, ContainerID: idC},
	},
	{
		name: "nerdctl",
		path: "/system.slice/nerdctl-" + idA + ".scope",
		want: Identity{Runtime: RuntimeContainerd, ContainerID: idA},
	},

	// --- systemd units ---
	{
		name: "service",
		path: "/system.slice/nginx.service",
		want: Identity{Unit: "nginx.service"},
	},
	{
		name: "session scope",
		path: "/user.slice/user-1000.slice/session-3.scope",
		want: Identity{Unit: "session-3.scope"},
	},
	{
		name: "template instance",
		path: "/system.slice/system-getty.slice/getty@tty1.service",
		want: Identity{Unit: "getty@tty1.service"},
	},
	{
		name: "user manager",
		path: "/user.slice/user-1000.slice/user@1000.service",
		want: Identity{Unit: "user@1000.service"},
	},
	{
		name: "innermost unit wins",
		path: "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope",
		want: Identity{Unit: "app-gnome-firefox-4242.scope"},
	},
	{
		name: "init scope",
		path: "/init.scope",
		want: Identity{Unit: "init.scope"},
	},
	{
		name: "escaped mount unit",
		path: `/system.slice/var-lib-docker\x2doverlay.mount`,
		want: Identity{Unit: `var-lib-docker\x2doverlay.mount`},
	},
	{
		name: "container runtime daemon itself",
		path: "/system.slice/containerd.service",
		want: Identity{Unit: "containerd.service"},
	},
	{
		name: "slice is not a unit label",
		path: "/system.slice",
		want: Identity{},
	},

	// --- garbage ---
	{name: "empty", path: "", want: Identity{}},
	{name: "root", path: "/", want: Identity{}},
	{name: "relative", path: "system.slice/docker-" + idA + ".scope", want: Identity{}},
	{name: "relative kubepods", path: "kubepods/besteffort/pod" + uid + "/" + idA, want: Identity{}},
	{name: "dot-dot", path: "/kubepods/../system.slice/nginx.service", want: Identity{}},
	{name: "dot", path: "/system.slice/./nginx.service", want: Identity{}},
	{
		name: "id too short",
		path: "/system.slice/docker-" + idA[:63] + ".scope",
		want: Identity{Unit: "docker-" + idA[:63] + ".scope"},
	},
	{
		name: "id too long",
		path: "/system.slice/docker-" + idA + "0.scope",
		want: Identity{Unit: "docker-" + idA + "0.scope"},
	},
	{
		name: "id not hex",
		path: "/system.slice/docker-" + strings.Repeat("g", 64) + ".scope",
		want: Identity{Unit: "docker-" + strings.Repeat("g", 64) + ".scope"},
	},
	{
		name: "uppercase id",
		path: "/system.slice/docker-" + strings.ToUpper(idA) + ".scope",
		want: Identity{Unit: "docker-" + strings.ToUpper(idA) + ".scope"},
	},
	{
		name: "uppercase bare id under pod",
		path: "/kubepods/besteffort/pod" + uid + "/" + strings.ToUpper(idA),
		want: Identity{PodUID: uid, QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "uppercase pod uid",
		path: "/kubepods/besteffort/pod" + strings.ToUpper(uid) + "/" + idA,
		want: Identity{QoSClass: QoSBestEffort, Kubernetes: true},
	},
	{
		name: "bare id outside pod or docker",
		path: "/foo/" + idA,
		want: Identity{},
	},
	{
		name: "unknown runtime prefix",
		path: "/system.slice/lxc-" + idA + ".scope",
		want: Identity{Unit: "lxc-" + idA + ".scope"},
	},
	{
		name: "prefix only",
		path: "/system.slice/docker-.scope",
		want: Identity{Unit: "docker-.scope"},
	},
	{
		name: "bare suffix",
		path: "/system.slice/.service",
		want: Identity{},
	},
	{
		name: "kubepods slice with junk",
		path: "/kubepods-besteffort-podxyz.slice",
		want: Identity{},
	},
	{
		name: "kubepods slice with empty token",
		path: "/kubepods--besteffort.slice",
		want: Identity{},
	},
	{
		name: "very long path",
		path: strings.Repeat("/a.slice", 10000) + "/docker-" + idA + ".scope",
		want: Identity{Runtime: RuntimeDocker, ContainerID: idA},
	},
	{
		name: "very long unit name",
		path: "/system.slice/" + strings.Repeat("x", 300) + ".service",
		want: Identity{},
	},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse(tc.path); got != tc.want {
				t.Errorf("Parse(%.200q)\n got %+v\nwant %+v", tc.path, got, tc.want)
			}
		})
	}
}

func TestShortID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{idA, "ca978112ca1b"},
		{"abc", "abc"},
		{"", ""},
		{"0123456789ab", "0123456789ab"},
		{"0123456789abc", "0123456789ab"},
		{"ééééééééééééé", "éééééééééééé"},
	} {
		if got := ShortID(tc.in); got != tc.want {
			t.Errorf("ShortID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/system.slice/nginx.service", "nginx.service"},
		{"/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service"},
		{"/system.slice/docker-" + idA + ".scope", "ca978112ca1b"},
		{"/kubepods/burstable/pod" + uid + "/crio-conmon-" + idB, "conmon-3e23e8160039"},
		{"/kubepods.slice/kubepods-pod" + uidSystemd + ".slice", "/kubepods.slice/kubepods-pod" + uidSystemd + ".slice"},
		{"/system.slice", "/system.slice"},
		{"/", "/"},
		{"", ""},
	} {
		if got := Parse(tc.path).Label(tc.path); got != tc.want {
			t.Errorf("Parse(%q).Label() = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestIsContainer(t *testing.T) {
	if !Parse("/system.slice/crio-" + idA + ".scope").IsContainer() {
		t.Error("crio scope: IsContainer() = false")
	}
	if Parse("/system.slice/crio-conmon-" + idA + ".scope").IsContainer() {
		t.Error("conmon scope: IsContainer() = true")
	}
	if Parse("/kubepods/pod" + uid).IsContainer() {
		t.Error("pod cgroup: IsContainer() = true")
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.path) < 1000 {
			f.Add(tc.path)
		}
	}
	f.Fuzz(func(t *testing.T, path string) {
		id := Parse(path)
		_ = id.Label(path)
		_ = ShortID(id.ContainerID)

		if id.ContainerID != "" && !isContainerID(id.ContainerID) {
			t.Errorf("ContainerID %q is not 64 lowercase hex", id.ContainerID)
		}
		if id.PodUID != "" && !isCanonicalUUID(id.PodUID) {
			t.Errorf("PodUID %q is not a canonical UUID", id.PodUID)
		}
		if id.StaticPodHash != "" && (len(id.StaticPodHash) != 32 || !isLowerHex(id.StaticPodHash)) {
			t.Errorf("StaticPodHash %q is not 32 lowercase hex", id.StaticPodHash)
		}
		if id.PodUID != "" && id.StaticPodHash != "" {
			t.Errorf("both PodUID and StaticPodHash set: %+v", id)
		}
		switch id.Runtime {
		case "", RuntimeContainerd, RuntimeCRIO, RuntimeDocker, RuntimePodman:
		default:
			t.Errorf("unexpected Runtime %q", id.Runtime)
		}
		switch id.QoSClass {
		case "", QoSGuaranteed, QoSBurstable, QoSBestEffort:
		default:
			t.Errorf("unexpected QoSClass %q", id.QoSClass)
		}
		if (id.Runtime != "" || id.Conmon) && id.ContainerID == "" {
			t.Errorf("Runtime/Conmon without ContainerID: %+v", id)
		}
		if (id.QoSClass != "" || id.PodUID != "" || id.StaticPodHash != "") && !id.Kubernetes {
			t.Errorf("pod fields outside kubepods: %+v", id)
		}
		if id.Unit != "" && (id.ContainerID != "" || id.Kubernetes) {
			t.Errorf("Unit set for a container or pod: %+v", id)
		}
		if id != Parse(path) {
			t.Errorf("Parse is not deterministic for %q", path)
		}
	})
}

func isCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isLowerHex(s[i : i+1]) {
				return false
			}
		}
	}
	return true
}
