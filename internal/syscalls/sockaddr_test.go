package syscalls

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// sin builds a sockaddr_in the way the kernel lays it out.
func sin(addr string, port uint16) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b, afInet)
	binary.BigEndian.PutUint16(b[2:], port)
	a := netip.MustParseAddr(addr).As4()
	copy(b[4:], a[:])
	return b
}

// sin6 builds a sockaddr_in6.
func sin6(addr string, port uint16, scope uint32) []byte {
	b := make([]byte, 28)
	binary.NativeEndian.PutUint16(b, afInet6)
	binary.BigEndian.PutUint16(b[2:], port)
	a := netip.MustParseAddr(addr).As16()
	copy(b[8:], a[:])
	binary.NativeEndian.PutUint32(b[24:], scope)
	return b
}

// sun builds a sockaddr_un holding path (a leading NUL makes it abstract).
func sun(path string) []byte {
	b := make([]byte, 2, 2+len(path)+1)
	binary.NativeEndian.PutUint16(b, afUnix)
	return append(b, path...)
}

func TestFormatSockaddr(t *testing.T) {
	nl := make([]byte, 12)
	binary.NativeEndian.PutUint16(nl, afNetlink)
	binary.NativeEndian.PutUint32(nl[4:], 1234)
	binary.NativeEndian.PutUint32(nl[8:], 1)
	packet := make([]byte, 20)
	binary.NativeEndian.PutUint16(packet, 17)

	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"v4", sin("10.96.0.1", 443), "10.96.0.1:443"},
		{"v4 loopback", sin("127.0.0.1", 1), "127.0.0.1:1"},
		{"v4 minimal length", sin("1.2.3.4", 80)[:8], "1.2.3.4:80"},
		{"v4 short", sin("1.2.3.4", 80)[:5], "{sa_family=AF_INET, len=5}"},
		{"v6", sin6("::1", 80, 0), "[::1]:80"},
		{"v6 scope", sin6("fe80::1", 8080, 2), "[fe80::1%2]:8080"},
		{"v6 mapped", sin6("::ffff:10.0.0.1", 53, 0), "[::ffff:10.0.0.1]:53"},
		{"v6 without scope id", sin6("2001:db8::5", 443, 0)[:24], "[2001:db8::5]:443"},
		{"v6 short", sin6("::1", 80, 0)[:20], "{sa_family=AF_INET6, len=20}"},
		{"unix path", sun("/run/x.sock\x00\x00\x00"), "unix:/run/x.sock"},
		{"unix path without NUL", sun("/tmp/s"), "unix:/tmp/s"},
		{"unix abstract", sun("\x00name"), "unix:@name"},
		{"unix abstract with NUL", sun("\x00a\x00b"), `unix:@a\0b`},
		{"unix unnamed", sun(""), "unix:(unnamed)"},
		{"unix odd bytes", sun("/tmp/\n"), `unix:/tmp/\n`},
		{"netlink", nl, "netlink:pid=1234,groups=0x1"},
		{"unspec", make([]byte, 16), "AF_UNSPEC"},
		{"packet", packet, "{sa_family=AF_PACKET, len=20}"},
		{"unknown family", []byte{0xfe, 0, 1, 2}, "{sa_family=254, len=4}"},
		{"one byte", []byte{2}, "{len=1}"},
		{"empty", nil, "{len=0}"},
	}
	for _, tt := range tests {
		if got := FormatSockaddr(tt.in); got != tt.want {
			t.Errorf("%s: FormatSockaddr = %q, want %q", tt.name, got, tt.want)
		}
	}
}
