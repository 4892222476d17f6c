package syscalls

import "testing"

func TestOpenFlags(t *testing.T) {
	tests := []struct {
		arch  Arch
		flags uint64
		want  string
	}{
		{ArchAMD64, 0, "O_RDONLY"},
		{ArchAMD64, 0o1101, "O_WRONLY|O_CREAT|O_TRUNC"},
		{ArchAMD64, 0o2001101, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"},
		{ArchAMD64, 0o2204000, "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY"},
		{ArchARM64, 0o2044000, "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY"},
		{ArchAMD64, 0o400000, "O_RDONLY|O_NOFOLLOW"},
		{ArchARM64, 0o100000, "O_RDONLY|O_NOFOLLOW"},
		{ArchAMD64, 0o40002, "O_RDWR|O_DIRECT"},
		{ArchARM64, 0o200002, "O_RDWR|O_DIRECT"},
		{ArchAMD64, 0o100000, "O_RDONLY|O_LARGEFILE"},
		{ArchARM64, 0o400000, "O_RDONLY|O_LARGEFILE"},
		// The same bits mean different things on the two architectures.
		{ArchARM64, 0o40000, "O_RDONLY|O_DIRECTORY"},
		{ArchAMD64, 0o40000, "O_RDONLY|O_DIRECT"},
		{ArchAMD64, 0o4010001, "O_WRONLY|O_SYNC"},
		{ArchAMD64, 0o10001, "O_WRONLY|O_DSYNC"},
		{ArchAMD64, 0o20200002, "O_RDWR|O_TMPFILE"},
		{ArchARM64, 0o20040002, "O_RDWR|O_TMPFILE"},
		{ArchAMD64, 0o10000000, "O_RDONLY|O_PATH"},
		{ArchAMD64, 3, "O_ACCMODE"},
		{ArchAMD64, 0x40000000, "O_RDONLY|0x40000000"},
		{ArchAMD64, 0xffffffff00000001, "O_WRONLY"}, // int argument: upper half ignored
	}
	for _, tt := range tests {
		if got := tt.arch.OpenFlags(tt.flags); got != tt.want {
			t.Errorf("%s.OpenFlags(%#o) = %q, want %q", tt.arch, tt.flags, got, tt.want)
		}
	}
}

func TestMmap(t *testing.T) {
	protTests := []struct {
		arch Arch
		prot uint64
		want string
	}{
		{ArchAMD64, 0, "PROT_NONE"},
		{ArchAMD64, 1, "PROT_READ"},
		{ArchAMD64, 3, "PROT_READ|PROT_WRITE"},
		{ArchAMD64, 5, "PROT_READ|PROT_EXEC"},
		{ArchARM64, 0x15, "PROT_READ|PROT_EXEC|PROT_BTI"},
		{ArchAMD64, 0x10, "0x10"}, // PROT_BTI does not exist on amd64
	}
	for _, tt := range protTests {
		if got := tt.arch.MmapProt(tt.prot); got != tt.want {
			t.Errorf("%s.MmapProt(%#x) = %q, want %q", tt.arch, tt.prot, got, tt.want)
		}
	}
	flagTests := []struct {
		arch  Arch
		flags uint64
		want  string
	}{
		{ArchAMD64, 0x22, "MAP_PRIVATE|MAP_ANONYMOUS"},
		{ArchAMD64, 0x1, "MAP_SHARED"},
		{ArchAMD64, 0x3, "MAP_SHARED_VALIDATE"},
		{ArchAMD64, 0x812, "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE"},
		{ArchAMD64, 0x20022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK"},
		{ArchAMD64, 0x100032, "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE"},
		{ArchAMD64, 0x62, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT"},
		{ArchARM64, 0x62, "MAP_PRIVATE|MAP_ANONYMOUS|0x40"},
		{ArchAMD64, 0, "0"},
		{ArchAMD64, 0x20, "MAP_ANONYMOUS"},
	}
	for _, tt := range flagTests {
		if got := tt.arch.MmapFlags(tt.flags); got != tt.want {
			t.Errorf("%s.MmapFlags(%#x) = %q, want %q", tt.arch, tt.flags, got, tt.want)
		}
	}
}

func TestSocketType(t *testing.T) {
	tests := []struct {
		typ  uint64
		want string
	}{
		{1, "SOCK_STREAM"},
		{2, "SOCK_DGRAM"},
		{0x80001, "SOCK_STREAM|SOCK_CLOEXEC"},
		{0x80801, "SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"},
		{0x80803, "SOCK_RAW|SOCK_CLOEXEC|SOCK_NONBLOCK"},
		{0x805, "SOCK_SEQPACKET|SOCK_NONBLOCK"},
		{9, "9"},
	}
	for _, tt := range tests {
		if got := SocketType(tt.typ); got != tt.want {
			t.Errorf("SocketType(%#x) = %q, want %q", tt.typ, got, tt.want)
		}
	}
	protoTests := []struct {
		family, proto int64
		want          string
	}{
		{afInet, 6, "IPPROTO_TCP"},
		{afInet6, 17, "IPPROTO_UDP"},
		{afInet, 0, "IPPROTO_IP"},
		{afNetlink, 0, "NETLINK_ROUTE"},
		{afNetlink, 16, "NETLINK_GENERIC"},
		{afUnix, 0, "0"},
		{afUnix, 6, "6"},
	}
	for _, tt := range protoTests {
		if got := socketProtocol(tt.family, tt.proto); got != tt.want {
			t.Errorf("socketProtocol(%d, %d) = %q, want %q", tt.family, tt.proto, got, tt.want)
		}
	}
	if got := FamilyName(10); got != "AF_INET6" {
		t.Errorf("FamilyName(10) = %q", got)
	}
	if got := FamilyName(250); got != "250" {
		t.Errorf("FamilyName(250) = %q", got)
	}
}

func TestFutexOpName(t *testing.T) {
	tests := []struct {
		op   uint64
		want string
	}{
		{0, "FUTEX_WAIT"},
		{1, "FUTEX_WAKE"},
		{128, "FUTEX_WAIT_PRIVATE"},
		{129, "FUTEX_WAKE_PRIVATE"},
		{9 | 128 | 256, "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME"},
		{6, "FUTEX_LOCK_PI"},
		{7 | 128, "FUTEX_UNLOCK_PI_PRIVATE"},
		{5 | 128, "FUTEX_WAKE_OP_PRIVATE"},
		{13, "FUTEX_LOCK_PI2"},
		{100, "0x64"},
		{0x1000 | 128, "FUTEX_WAIT_PRIVATE|0x1000"},
	}
	for _, tt := range tests {
		if got := FutexOpName(tt.op); got != tt.want {
			t.Errorf("FutexOpName(%d) = %q, want %q", tt.op, got, tt.want)
		}
	}
}

func TestCloneFlags(t *testing.T) {
	tests := []struct {
		flags uint64
		want  string
	}{
		{0x3d0f00, "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"},
		{0x1200011, "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"},
		{0x4111, "CLONE_VM|CLONE_VFORK|SIGCHLD"},
		{17, "SIGCHLD"},
		{0, "0"},
		{0x20000000 | 0x40000000, "CLONE_NEWPID|CLONE_NEWNET"},
		{0x1000000000, "0x1000000000"},
	}
	for _, tt := range tests {
		if got := CloneFlags(tt.flags); got != tt.want {
			t.Errorf("CloneFlags(%#x) = %q, want %q", tt.flags, got, tt.want)
		}
	}
}

func TestFlagSetsAndEnums(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"access F_OK", accessModes.format(0), "F_OK"},
		{"access R|W", accessModes.format(6), "R_OK|W_OK"},
		{"at flags", atFlags.format(0x1100), "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH"},
		{"unlinkat", unlinkatFlags.format(0x200), "AT_REMOVEDIR"},
		{"faccessat2", faccessatFlags.format(0x200), "AT_EACCESS"},
		{"mount", mountFlags.format(0xc0ed0000 | 0x1000 | 0x4000), "MS_MGC_VAL|MS_BIND|MS_REC"},
		{"mount private", mountFlags.format(1<<18 | 1<<14), "MS_REC|MS_PRIVATE"},
		{"msg", msgFlags.format(0x4040), "MSG_DONTWAIT|MSG_NOSIGNAL"},
		{"wait", waitOptions.format(0x40000001), "WNOHANG|__WALL"},
		{"fcntl", fcntlCmds.format(1030), "F_DUPFD_CLOEXEC"},
		{"fcntl unknown", fcntlCmds.format(77), "77"},
		{"whence", whences.format(2), "SEEK_END"},
		{"epoll", epollOps.format(1), "EPOLL_CTL_ADD"},
		{"prctl", prctlOpts.format(15), "PR_SET_NAME"},
		{"sighow", sigHows.format(2), "SIG_SETMASK"},
		{"clock", clockIDs.format(1), "CLOCK_MONOTONIC"},
		{"clock cpu", clockIDs.format(-6), "-6"},
		{"efd", efdFlags.format(0x80800), "EFD_CLOEXEC|EFD_NONBLOCK"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestFutexEffect(t *testing.T) {
	for op, want := range map[uint32]string{
		futexWait: "wait", futexWait | futexPrivate: "wait", futexWaitBitset | futexPrivate | futexClockRealtime: "wait",
		futexLockPI2: "wait", futexWake | futexPrivate: "wake", futexCmpRequeuePI: "wake", futexFd: "other", 14: "other",
	} {
		if got := FutexEffect(op); got != want {
			t.Errorf("FutexEffect(%#x) = %s, want %s", op, got, want)
		}
	}
}

func TestNoReturnAndIsErrno(t *testing.T) {
	for name, want := range map[string]bool{"exit": true, "exit_group": true, "execve": false, "read": false, "nosuch": false} {
		if NoReturn(name) != want {
			t.Errorf("NoReturn(%s) = %v", name, !want)
		}
	}
	for ret, want := range map[int64]bool{-1: true, -MaxErrno: true, -MaxErrno - 1: false, 0: false, 5: false} {
		if IsErrno(ret) != want {
			t.Errorf("IsErrno(%d) = %v", ret, !want)
		}
	}
}

func TestErrnoNumberInvertsErrnoName(t *testing.T) {
	for n, name := range errnoNames {
		if got, ok := ErrnoNumber(name); !ok || got != n {
			t.Errorf("ErrnoNumber(%q) = %d %v, want %d", name, got, ok, n)
		}
	}
	if _, ok := ErrnoNumber("EWHATEVER"); ok {
		t.Error("an unknown name has a number")
	}
}
