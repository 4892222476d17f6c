package cgroupid

import "strings"

// runtimeForPrefix maps the prefix of a "<prefix>-<id>" container cgroup
// name, or the middle part of a "<slice>:<prefix>:<id>" name, to a runtime.
func runtimeForPrefix(prefix string) (runtime string, conmon, ok bool) {
	switch prefix {
	case "cri-containerd", "nerdctl":
		return RuntimeContainerd, false, true
	case "crio":
		return RuntimeCRIO, false, true
	case "crio-conmon":
		return RuntimeCRIO, true, true
	case "docker":
		return RuntimeDocker, false, true
	case "libpod":
		return RuntimePodman, false, true
	case "libpod-conmon":
		return RuntimePodman, true, true
	}
	return "", false, false
}

// isContainerID reports whether s is a full container id: 64 lowercase hex
// digits.
func isContainerID(s string) bool {
	return len(s) == 64 && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parsePodUID reads the UID part of a pod cgroup name. sep is the separator
// the cgroup driver uses between the UUID groups: '-' for cgroupfs, '_' for
// systemd, which reserves '-' for slice nesting. A canonical UUID comes back
// as uid in dashed form; a 32-hex static pod config hash comes back as hash.
func parsePodUID(s string, sep byte) (uid, hash string, ok bool) {
	switch len(s) {
	case 32:
		if isLowerHex(s) {
			return "", s, true
		}
	case 36:
		var b [36]byte
		for i := 0; i < 36; i++ {
			c := s[i]
			switch i {
			case 8, 13, 18, 23:
				if c != sep {
					return "", "", false
				}
				c = '-'
			default:
				if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
					return "", "", false
				}
			}
			b[i] = c
		}
		return string(b[:]), "", true
	}
	return "", "", false
}

// kubeSlice is what a systemd-driver kubepods slice name says.
type kubeSlice struct {
	qos       string
	uid, hash string
	pod       bool
}

// parseKubeSlice interprets a kubelet systemd slice name:
//
//	[<parents>-]kubepods[-besteffort|-burstable][-pod<uid>].slice
//
// A pod slice without a QoS part belongs to a Guaranteed pod.
func parseKubeSlice(c string) (kubeSlice, bool) {
	var ks kubeSlice
	name, ok := strings.CutSuffix(c, ".slice")
	if !ok || name == "" {
		return ks, false
	}
	toks := strings.Split(name, "-")
	k := -1
	for i, t := range toks {
		if t == "" {
			return ks, false // not a valid slice name
		}
		if k < 0 && t == "kubepods" {
			k = i
		}
	}
	if k < 0 {
		return ks, false
	}
	rest := toks[k+1:]
	if len(rest) > 0 && (rest[0] == QoSBestEffort || rest[0] == QoSBurstable) {
		ks.qos = rest[0]
		rest = rest[1:]
	}
	if len(rest) > 0 {
		p, ok := strings.CutPrefix(rest[0], "pod")
		if !ok {
			return ks, false
		}
		ks.uid, ks.hash, ok = parsePodUID(p, '_')
		if !ok {
			return ks, false
		}
		ks.pod = true
		if ks.qos == "" {
			ks.qos = QoSGuaranteed
		}
		rest = rest[1:]
	}
	if len(rest) != 0 {
		return ks, false
	}
	return ks, true
}

// splitColonForm splits "<name>.slice:<prefix>:<id>".
func splitColonForm(c string) (slice, prefix, cid string, ok bool) {
	slice, rest, ok := strings.Cut(c, ":")
	if !ok || !strings.HasSuffix(slice, ".slice") {
		return "", "", "", false
	}
	prefix, cid, ok = strings.Cut(rest, ":")
	if !ok || prefix == "" || strings.IndexByte(cid, ':') >= 0 {
		return "", "", "", false
	}
	return slice, prefix, cid, true
}

// unitSuffixes are the systemd unit types that own processes and therefore
// cgroups of their own, slices excepted.
var unitSuffixes = [...]string{".service", ".scope", ".socket", ".mount", ".swap"}

// isUnitName reports whether c looks like a systemd unit name of a type in
// unitSuffixes: at most 255 bytes, of the characters systemd allows, with a
// non-empty name before the suffix and at most one '@' not at the start.
func isUnitName(c string) bool {
	if len(c) > 255 {
		return false
	}
	base := ""
	for _, s := range unitSuffixes {
		if b, ok := strings.CutSuffix(c, s); ok {
			base = b
			break
		}
	}
	if base == "" {
		return false
	}
	if at := strings.IndexByte(base, '@'); at == 0 || (at > 0 && strings.IndexByte(base[at+1:], '@') >= 0) {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == ':', ch == '-', ch == '_', ch == '.', ch == '\\', ch == '@':
		default:
			return false
		}
	}
	return true
}
