package syscalls

import "strconv"

const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
)

var (
	families = enum{
		0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
		6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE",
		12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK",
		17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA",
		23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS",
		29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC",
		34: "AF_ISDN", 35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG",
		39: "AF_NFC", 40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP",
		45: "AF_MCTP",
	}
	sockTypes = enum{
		1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET",
		6: "SOCK_DCCP", 10: "SOCK_PACKET",
	}
	sockFlags = flagSet{bits: []flagBit{{0o2000000, "SOCK_CLOEXEC"}, {0o4000, "SOCK_NONBLOCK"}}}
	ipProtos  = enum{
		0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 2: "IPPROTO_IGMP", 4: "IPPROTO_IPIP", 6: "IPPROTO_TCP",
		17: "IPPROTO_UDP", 41: "IPPROTO_IPV6", 47: "IPPROTO_GRE", 58: "IPPROTO_ICMPV6",
		132: "IPPROTO_SCTP", 136: "IPPROTO_UDPLITE", 255: "IPPROTO_RAW", 262: "IPPROTO_MPTCP",
	}
	netlinkProtos = enum{
		0: "NETLINK_ROUTE", 4: "NETLINK_SOCK_DIAG", 6: "NETLINK_XFRM", 7: "NETLINK_SELINUX",
		9: "NETLINK_AUDIT", 10: "NETLINK_FIB_LOOKUP", 11: "NETLINK_CONNECTOR", 12: "NETLINK_NETFILTER",
		15: "NETLINK_KOBJECT_UEVENT", 16: "NETLINK_GENERIC", 18: "NETLINK_SCSITRANSPORT",
	}
	msgFlags = flagSet{bits: []flagBit{
		{1, "MSG_OOB"}, {2, "MSG_PEEK"}, {4, "MSG_DONTROUTE"}, {8, "MSG_CTRUNC"}, {0x10, "MSG_PROXY"},
		{0x20, "MSG_TRUNC"}, {0x40, "MSG_DONTWAIT"}, {0x80, "MSG_EOR"}, {0x100, "MSG_WAITALL"},
		{0x200, "MSG_FIN"}, {0x400, "MSG_SYN"}, {0x800, "MSG_CONFIRM"}, {0x1000, "MSG_RST"},
		{0x2000, "MSG_ERRQUEUE"}, {0x4000, "MSG_NOSIGNAL"}, {0x8000, "MSG_MORE"},
		{0x10000, "MSG_WAITFORONE"}, {0x40000, "MSG_BATCH"}, {0x4000000, "MSG_ZEROCOPY"},
		{0x20000000, "MSG_FASTOPEN"}, {0x40000000, "MSG_CMSG_CLOEXEC"},
	}}
	shutdownHows = enum{0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
	sockLevels   = enum{
		0: "SOL_IP", 1: "SOL_SOCKET", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6",
		58: "SOL_ICMPV6", 132: "SOL_SCTP", 263: "SOL_PACKET", 270: "SOL_NETLINK", 279: "SOL_ALG",
	}
	// Socket options per level; asm-generic values used by amd64 and arm64.
	sockOpts = map[int64]enum{
		1: {
			1: "SO_DEBUG", 2: "SO_REUSEADDR", 3: "SO_TYPE", 4: "SO_ERROR", 5: "SO_DONTROUTE",
			6: "SO_BROADCAST", 7: "SO_SNDBUF", 8: "SO_RCVBUF", 9: "SO_KEEPALIVE", 10: "SO_OOBINLINE",
			11: "SO_NO_CHECK", 12: "SO_PRIORITY", 13: "SO_LINGER", 14: "SO_BSDCOMPAT",
			15: "SO_REUSEPORT", 16: "SO_PASSCRED", 17: "SO_PEERCRED", 18: "SO_RCVLOWAT",
			19: "SO_SNDLOWAT", 20: "SO_RCVTIMEO_OLD", 21: "SO_SNDTIMEO_OLD", 25: "SO_BINDTODEVICE",
			26: "SO_ATTACH_FILTER", 27: "SO_DETACH_FILTER", 28: "SO_PEERNAME", 29: "SO_TIMESTAMP_OLD",
			30: "SO_ACCEPTCONN", 31: "SO_PEERSEC", 32: "SO_SNDBUFFORCE", 33: "SO_RCVBUFFORCE",
			34: "SO_PASSSEC", 36: "SO_MARK", 38: "SO_PROTOCOL", 39: "SO_DOMAIN", 40: "SO_RXQ_OVFL",
			49: "SO_INCOMING_CPU", 50: "SO_ATTACH_BPF", 57: "SO_COOKIE", 60: "SO_ZEROCOPY",
			62: "SO_BINDTOIFINDEX", 66: "SO_RCVTIMEO_NEW", 67: "SO_SNDTIMEO_NEW",
		},
		0: {
			1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 8: "IP_PKTINFO",
			10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 15: "IP_FREEBIND", 19: "IP_TRANSPARENT",
			24: "IP_BIND_ADDRESS_NO_PORT", 32: "IP_MULTICAST_IF", 33: "IP_MULTICAST_TTL",
			34: "IP_MULTICAST_LOOP", 35: "IP_ADD_MEMBERSHIP", 36: "IP_DROP_MEMBERSHIP",
		},
		6: {
			1: "TCP_NODELAY", 2: "TCP_MAXSEG", 3: "TCP_CORK", 4: "TCP_KEEPIDLE", 5: "TCP_KEEPINTVL",
			6: "TCP_KEEPCNT", 7: "TCP_SYNCNT", 8: "TCP_LINGER2", 9: "TCP_DEFER_ACCEPT",
			10: "TCP_WINDOW_CLAMP", 11: "TCP_INFO", 12: "TCP_QUICKACK", 13: "TCP_CONGESTION",
			14: "TCP_MD5SIG", 18: "TCP_USER_TIMEOUT", 23: "TCP_FASTOPEN", 25: "TCP_NOTSENT_LOWAT",
			30: "TCP_FASTOPEN_CONNECT", 31: "TCP_ULP",
		},
		41: {
			16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF", 18: "IPV6_MULTICAST_HOPS",
			19: "IPV6_MULTICAST_LOOP", 23: "IPV6_MTU_DISCOVER", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY",
			49: "IPV6_RECVPKTINFO", 50: "IPV6_PKTINFO", 67: "IPV6_TCLASS", 75: "IPV6_TRANSPARENT",
			78: "IPV6_FREEBIND",
		},
	}
)

// FamilyName returns the AF_* name of an address family, or its number.
func FamilyName(family int) string {
	return families.format(int64(family))
}

// SocketType renders a socket(2) type argument ("SOCK_STREAM|SOCK_CLOEXEC").
func SocketType(typ uint64) string {
	typ = uint64(uint32(typ))
	base := typ & 0xf
	s := sockTypes.format(int64(base))
	if rest := typ &^ 0xf; rest != 0 {
		s += "|" + sockFlags.format(rest)
	}
	return s
}

// socketProtocol names the protocol of socket(2) when the family makes the
// meaning obvious, else returns it in decimal.
func socketProtocol(family, proto int64) string {
	switch family {
	case afInet, afInet6:
		return ipProtos.format(proto)
	case afNetlink:
		return netlinkProtos.format(proto)
	}
	return strconv.FormatInt(proto, 10)
}
