package syscalls

// memSigs covers memory-management syscalls.
var memSigs = map[string]sig{
	"mmap":       sr(retHex, aPtr, aSize, aProt, aMapFlags, aFd, aHex),
	"munmap":     s(aPtr, aSize),
	"mprotect":   s(aPtr, aSize, aProt),
	"brk":        sr(retHex, aPtr),
	"madvise":    s(aPtr, aSize, aEnum(madvices)),
	"mremap":     sr(retHex, aPtr, aSize, aSize, aFlags(mremapFlags), aMremapAddr),
	"msync":      s(aPtr, aSize, aFlags(msyncFlags)),
	"mlock":      s(aPtr, aSize),
	"munlock":    s(aPtr, aSize),
	"mlockall":   s(aFlags(mlockallFlag)),
	"munlockall": s(),
	"mincore":    s(aPtr, aSize, aPtr),
}
