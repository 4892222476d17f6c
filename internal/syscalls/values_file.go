package syscalls

// Open flags common to amd64 and arm64, in strace's print order.
var openFlagsHead = []flagBit{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o4010000, "O_SYNC"}, {0o10000, "O_DSYNC"},
	{0o20000, "O_ASYNC"},
}

// openFlagsFor returns the open(2) flags of an architecture: O_DIRECTORY,
// O_NOFOLLOW, O_DIRECT and O_LARGEFILE differ between amd64 and arm64.
func openFlagsFor(directory, nofollow, direct, largefile uint64) flagSet {
	bits := append([]flagBit(nil), openFlagsHead...)
	bits = append(bits,
		flagBit{direct, "O_DIRECT"}, flagBit{largefile, "O_LARGEFILE"},
		flagBit{0o1000000, "O_NOATIME"}, flagBit{0o2000000, "O_CLOEXEC"},
		flagBit{0o10000000, "O_PATH"}, flagBit{0o20000000 | directory, "O_TMPFILE"},
		flagBit{directory, "O_DIRECTORY"}, flagBit{nofollow, "O_NOFOLLOW"},
	)
	return flagSet{bits: bits}
}

var (
	openFlagsAMD64 = openFlagsFor(0o200000, 0o400000, 0o40000, 0o100000)
	openFlagsARM64 = openFlagsFor(0o40000, 0o100000, 0o200000, 0o400000)
)

const (
	oCreat   = 0o100
	oTmpfile = 0o20000000 // __O_TMPFILE, the same on both architectures
	atFDCWD  = -100
)

var accModes = enum{0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}

// OpenFlags renders open(2) flags for a, with the access mode first
// ("O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC").
func (a Arch) OpenFlags(flags uint64) string {
	flags = uint64(uint32(flags))
	s := accModes.format(int64(flags & 3))
	if rest := flags &^ 3; rest != 0 {
		s += "|" + a.openFlagSet().format(rest)
	}
	return s
}

func (a Arch) openFlagSet() flagSet {
	if a == ArchARM64 {
		return openFlagsARM64
	}
	return openFlagsAMD64
}

var (
	atFlags = flagSet{bits: []flagBit{
		{0x100, "AT_SYMLINK_NOFOLLOW"}, {0x400, "AT_SYMLINK_FOLLOW"}, {0x800, "AT_NO_AUTOMOUNT"},
		{0x1000, "AT_EMPTY_PATH"}, {0x2000, "AT_STATX_FORCE_SYNC"}, {0x4000, "AT_STATX_DONT_SYNC"},
		{0x8000, "AT_RECURSIVE"},
	}}
	unlinkatFlags   = flagSet{bits: []flagBit{{0x200, "AT_REMOVEDIR"}}}
	faccessatFlags  = flagSet{bits: append([]flagBit{{0x200, "AT_EACCESS"}}, atFlags.bits...)}
	accessModes     = flagSet{zero: "F_OK", bits: []flagBit{{4, "R_OK"}, {2, "W_OK"}, {1, "X_OK"}}}
	renameFlags     = flagSet{bits: []flagBit{{1, "RENAME_NOREPLACE"}, {2, "RENAME_EXCHANGE"}, {4, "RENAME_WHITEOUT"}}}
	xattrFlags      = flagSet{bits: []flagBit{{1, "XATTR_CREATE"}, {2, "XATTR_REPLACE"}}}
	umountFlags     = flagSet{bits: []flagBit{{1, "MNT_FORCE"}, {2, "MNT_DETACH"}, {4, "MNT_EXPIRE"}, {8, "UMOUNT_NOFOLLOW"}}}
	closeRangeFlags = flagSet{bits: []flagBit{{2, "CLOSE_RANGE_UNSHARE"}, {4, "CLOSE_RANGE_CLOEXEC"}}}
	flockOps        = flagSet{bits: []flagBit{{1, "LOCK_SH"}, {2, "LOCK_EX"}, {4, "LOCK_NB"}, {8, "LOCK_UN"}}}
	fdFlags         = flagSet{bits: []flagBit{{1, "FD_CLOEXEC"}}}
	syncRangeFlags  = flagSet{bits: []flagBit{
		{1, "SYNC_FILE_RANGE_WAIT_BEFORE"}, {2, "SYNC_FILE_RANGE_WRITE"}, {4, "SYNC_FILE_RANGE_WAIT_AFTER"},
	}}
	inotifyFlags = flagSet{bits: []flagBit{{0o4000, "IN_NONBLOCK"}, {0o2000000, "IN_CLOEXEC"}}}
	mfdFlags     = flagSet{bits: []flagBit{
		{1, "MFD_CLOEXEC"}, {2, "MFD_ALLOW_SEALING"}, {4, "MFD_HUGETLB"}, {8, "MFD_NOEXEC_SEAL"}, {0x10, "MFD_EXEC"},
	}}
	mountFlags = flagSet{bits: []flagBit{
		{0xc0ed0000, "MS_MGC_VAL"},
		{1, "MS_RDONLY"}, {2, "MS_NOSUID"}, {4, "MS_NODEV"}, {8, "MS_NOEXEC"},
		{16, "MS_SYNCHRONOUS"}, {32, "MS_REMOUNT"}, {64, "MS_MANDLOCK"}, {128, "MS_DIRSYNC"},
		{256, "MS_NOSYMFOLLOW"}, {1024, "MS_NOATIME"}, {2048, "MS_NODIRATIME"}, {4096, "MS_BIND"},
		{8192, "MS_MOVE"}, {16384, "MS_REC"}, {32768, "MS_SILENT"}, {1 << 16, "MS_POSIXACL"},
		{1 << 17, "MS_UNBINDABLE"}, {1 << 18, "MS_PRIVATE"}, {1 << 19, "MS_SLAVE"}, {1 << 20, "MS_SHARED"},
		{1 << 21, "MS_RELATIME"}, {1 << 22, "MS_KERNMOUNT"}, {1 << 23, "MS_I_VERSION"},
		{1 << 24, "MS_STRICTATIME"}, {1 << 25, "MS_LAZYTIME"},
	}}
)

var (
	whences   = enum{0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
	fadvices  = enum{0: "POSIX_FADV_NORMAL", 1: "POSIX_FADV_RANDOM", 2: "POSIX_FADV_SEQUENTIAL", 3: "POSIX_FADV_WILLNEED", 4: "POSIX_FADV_DONTNEED", 5: "POSIX_FADV_NOREUSE"}
	fcntlCmds = enum{
		0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL",
		5: "F_GETLK", 6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN",
		10: "F_SETSIG", 11: "F_GETSIG", 15: "F_SETOWN_EX", 16: "F_GETOWN_EX", 17: "F_GETOWNER_UIDS",
		36: "F_OFD_GETLK", 37: "F_OFD_SETLK", 38: "F_OFD_SETLKW",
		1024: "F_SETLEASE", 1025: "F_GETLEASE", 1026: "F_NOTIFY", 1027: "F_DUPFD_QUERY",
		1028: "F_CREATED_QUERY", 1030: "F_DUPFD_CLOEXEC", 1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
		1033: "F_ADD_SEALS", 1034: "F_GET_SEALS", 1035: "F_GET_RW_HINT", 1036: "F_SET_RW_HINT",
		1037: "F_GET_FILE_RW_HINT", 1038: "F_SET_FILE_RW_HINT",
	}
	// ioctls common on containers; the tty ones are asm-generic, the same on
	// amd64 and arm64.
	ioctlReqs = enum{
		0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF",
		0x540e: "TIOCSCTTY", 0x540f: "TIOCGPGRP", 0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ",
		0x5414: "TIOCSWINSZ", 0x541b: "FIONREAD", 0x5421: "FIONBIO", 0x5422: "TIOCNOTTY",
		0x5450: "FIONCLEX", 0x5451: "FIOCLEX", 0x5452: "FIOASYNC",
		0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK",
	}
)
