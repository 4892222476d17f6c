package syscalls

var (
	protCommon = []flagBit{
		{1, "PROT_READ"}, {2, "PROT_WRITE"}, {4, "PROT_EXEC"}, {8, "PROT_SEM"},
		{0x01000000, "PROT_GROWSDOWN"}, {0x02000000, "PROT_GROWSUP"},
	}
	protAMD64 = flagSet{zero: "PROT_NONE", bits: protCommon}
	protARM64 = flagSet{zero: "PROT_NONE", bits: append(append([]flagBit(nil), protCommon...),
		flagBit{0x10, "PROT_BTI"}, flagBit{0x20, "PROT_MTE"})}

	// mmap flags after the map type (low nibble).
	mapFlagsCommon = []flagBit{
		{0x10, "MAP_FIXED"}, {0x20, "MAP_ANONYMOUS"}, {0x100, "MAP_GROWSDOWN"},
		{0x800, "MAP_DENYWRITE"}, {0x1000, "MAP_EXECUTABLE"}, {0x2000, "MAP_LOCKED"},
		{0x4000, "MAP_NORESERVE"}, {0x8000, "MAP_POPULATE"}, {0x10000, "MAP_NONBLOCK"},
		{0x20000, "MAP_STACK"}, {0x40000, "MAP_HUGETLB"}, {0x80000, "MAP_SYNC"},
		{0x100000, "MAP_FIXED_NOREPLACE"}, {0x4000000, "MAP_UNINITIALIZED"},
	}
	mapFlagsAMD64 = flagSet{bits: append(append([]flagBit(nil), mapFlagsCommon...), flagBit{0x40, "MAP_32BIT"})}
	mapFlagsARM64 = flagSet{bits: mapFlagsCommon}
	mapTypes      = enum{0: "0", 1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE", 8: "MAP_DROPPABLE"}

	mremapFlags  = flagSet{bits: []flagBit{{1, "MREMAP_MAYMOVE"}, {2, "MREMAP_FIXED"}, {4, "MREMAP_DONTUNMAP"}}}
	msyncFlags   = flagSet{bits: []flagBit{{1, "MS_ASYNC"}, {2, "MS_INVALIDATE"}, {4, "MS_SYNC"}}}
	mlockallFlag = flagSet{bits: []flagBit{{1, "MCL_CURRENT"}, {2, "MCL_FUTURE"}, {4, "MCL_ONFAULT"}}}
	madvices     = enum{
		0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED", 4: "MADV_DONTNEED",
		8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK", 11: "MADV_DOFORK", 12: "MADV_MERGEABLE",
		13: "MADV_UNMERGEABLE", 14: "MADV_HUGEPAGE", 15: "MADV_NOHUGEPAGE", 16: "MADV_DONTDUMP",
		17: "MADV_DODUMP", 18: "MADV_WIPEONFORK", 19: "MADV_KEEPONFORK", 20: "MADV_COLD",
		21: "MADV_PAGEOUT", 22: "MADV_POPULATE_READ", 23: "MADV_POPULATE_WRITE",
		24: "MADV_DONTNEED_LOCKED", 25: "MADV_COLLAPSE", 100: "MADV_HWPOISON", 101: "MADV_SOFT_OFFLINE",
		102: "MADV_GUARD_INSTALL", 103: "MADV_GUARD_REMOVE",
	}
)

const mremapFixed = 2

// MmapProt renders mmap/mprotect protection bits for a ("PROT_READ|PROT_WRITE").
func (a Arch) MmapProt(prot uint64) string {
	if a == ArchARM64 {
		return protARM64.format(uint64(uint32(prot)))
	}
	return protAMD64.format(uint64(uint32(prot)))
}

// MmapFlags renders mmap flags for a, map type first
// ("MAP_PRIVATE|MAP_ANONYMOUS").
func (a Arch) MmapFlags(flags uint64) string {
	flags = uint64(uint32(flags))
	fs := mapFlagsAMD64
	if a == ArchARM64 {
		fs = mapFlagsARM64
	}
	typ := mapTypes.format(int64(flags & 0xf))
	if rest := flags &^ 0xf; rest != 0 {
		rs := fs.format(rest)
		if flags&0xf == 0 {
			return rs
		}
		return typ + "|" + rs
	}
	return typ
}
