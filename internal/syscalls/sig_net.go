package syscalls

// netSigs covers socket syscalls.
var netSigs = map[string]sig{
	"socket":      s(aFamily, aSockType, aSockProto),
	"socketpair":  s(aFamily, aSockType, aSockProto, aPtr),
	"connect":     s(aFd, aSockaddr, aUint),
	"bind":        s(aFd, aSockaddr, aUint),
	"listen":      s(aFd, aInt),
	"accept":      s(aFd, aSockaddrOut, aPtr),
	"accept4":     s(aFd, aSockaddrOut, aPtr, aFlags(sockFlags)),
	"getsockname": s(aFd, aSockaddrOut, aPtr),
	"getpeername": s(aFd, aSockaddrOut, aPtr),
	"sendto":      s(aFd, aBuf, aSize, aFlags(msgFlags), aSockaddr, aUint),
	"recvfrom":    s(aFd, aBufOut, aSize, aFlags(msgFlags), aSockaddrOut, aPtr),
	"sendmsg":     s(aFd, aPtr, aFlags(msgFlags)),
	"recvmsg":     s(aFd, aPtr, aFlags(msgFlags)),
	"sendmmsg":    s(aFd, aPtr, aUint, aFlags(msgFlags)),
	"recvmmsg":    s(aFd, aPtr, aUint, aFlags(msgFlags), aPtr),
	"shutdown":    s(aFd, aEnum(shutdownHows)),
	"setsockopt":  s(aFd, aSockLevel, aSockOpt, aPtr, aUint),
	"getsockopt":  s(aFd, aSockLevel, aSockOpt, aPtr, aPtr),
}
