package syscalls

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// Minimum sizes of the decoded socket address structures.
const (
	sockaddrInLen  = 8  // family, port, IPv4 address (padding not needed)
	sockaddrIn6Len = 24 // family, port, flowinfo, IPv6 address
	sockaddrNlLen  = 12 // family, pad, pid, groups
	scopeIDEnd     = 28 // sin6_scope_id ends here
)

// sockaddrFamily returns the family (host byte order) of a raw sockaddr.
func sockaddrFamily(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	return int(binary.NativeEndian.Uint16(b)), true
}

// FormatSockaddr renders raw struct sockaddr bytes compactly:
// "10.96.0.1:443", "[::1]:80", "[fe80::1%2]:80", "unix:/run/x.sock",
// "unix:@name" (abstract), "unix:(unnamed)", "netlink:pid=0,groups=0x0",
// "AF_UNSPEC". Short or unknown addresses fall back to
// "{sa_family=AF_PACKET, len=20}".
func FormatSockaddr(b []byte) string {
	fam, ok := sockaddrFamily(b)
	if !ok {
		return fmt.Sprintf("{len=%d}", len(b))
	}
	switch {
	case fam == 0:
		return "AF_UNSPEC"
	case fam == afInet && len(b) >= sockaddrInLen:
		return inet4(b).String()
	case fam == afInet6 && len(b) >= sockaddrIn6Len:
		return inet6(b).String()
	case fam == afUnix:
		path, abstract := unixPath(b)
		switch {
		case abstract:
			return "unix:@" + escape(path)
		case len(path) == 0:
			return "unix:(unnamed)"
		}
		return "unix:" + escape(path)
	case fam == afNetlink && len(b) >= sockaddrNlLen:
		pid, groups := netlinkAddr(b)
		return fmt.Sprintf("netlink:pid=%d,groups=%s", pid, hex(uint64(groups)))
	}
	return fmt.Sprintf("{sa_family=%s, len=%d}", FamilyName(fam), len(b))
}

// inet4 decodes a sockaddr_in of at least sockaddrInLen bytes.
func inet4(b []byte) netip.AddrPort {
	addr := netip.AddrFrom4([4]byte(b[4:8]))
	return netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[2:4]))
}

// inet6 decodes a sockaddr_in6 of at least sockaddrIn6Len bytes; a non-zero
// scope id becomes the zone.
func inet6(b []byte) netip.AddrPort {
	addr := netip.AddrFrom16([16]byte(b[8:24]))
	if len(b) >= scopeIDEnd {
		if scope := binary.NativeEndian.Uint32(b[24:28]); scope != 0 {
			addr = addr.WithZone(strconv.FormatUint(uint64(scope), 10))
		}
	}
	return netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[2:4]))
}

// unixPath returns the sun_path of a sockaddr_un: up to the first NUL for
// filesystem paths, every byte after the leading NUL for abstract names.
func unixPath(b []byte) (path []byte, abstract bool) {
	p := b[2:]
	if len(p) > 0 && p[0] == 0 && len(p) > 1 {
		return p[1:], true
	}
	for i, c := range p {
		if c == 0 {
			return p[:i], false
		}
	}
	return p, false
}

// netlinkAddr decodes a sockaddr_nl of at least sockaddrNlLen bytes.
func netlinkAddr(b []byte) (pid, groups uint32) {
	return binary.NativeEndian.Uint32(b[4:8]), binary.NativeEndian.Uint32(b[8:12])
}
