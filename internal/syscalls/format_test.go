package syscalls

import "testing"

const atFDCWDArg = 0xffffffffffffff9c // -100 as the kernel sees it

// line renders a call the way the dump prints it.
func line(a Arch, c *Call) string {
	name, params, ret := a.Format(c)
	return name + "(" + params + ") = " + ret
}

// nr looks a syscall number up by name, failing the test when unknown.
func nr(t *testing.T, a Arch, name string) int {
	t.Helper()
	n, ok := a.Number(name)
	if !ok {
		t.Fatalf("%s has no syscall %q", a, name)
	}
	return n
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		arch Arch
		call Call // Nr is filled from sys
		sys  string
		want string
	}{
		{
			name: "openat create denied", arch: ArchAMD64, sys: "openat",
			call: Call{Args: [6]uint64{atFDCWDArg, 0x1000, 0o1101, 0o644}, Str1: []byte("/etc/passwd"), Ret: -13, Finished: true},
			want: `openat(AT_FDCWD, "/etc/passwd", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -13 EACCES`,
		},
		{
			name: "openat on arm64", arch: ArchARM64, sys: "openat",
			call: Call{Args: [6]uint64{atFDCWDArg, 0x1000, 0o2044000}, Str1: []byte("/proc"), Ret: 3, Finished: true},
			want: `openat(AT_FDCWD, "/proc", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3`,
		},
		{
			name: "openat relative to dirfd, mode omitted", arch: ArchAMD64, sys: "openat",
			call: Call{Args: [6]uint64{5, 0x1000, 0o2000000, 0o777}, Str1: []byte("status"), Ret: -2, Finished: true},
			want: `openat(5, "status", O_RDONLY|O_CLOEXEC) = -2 ENOENT`,
		},
		{
			name: "open path not captured", arch: ArchAMD64, sys: "open",
			call: Call{Args: [6]uint64{0x7ffc00, 0}, Ret: 4, Finished: true},
			want: `open(0x7ffc00, O_RDONLY) = 4`,
		},
		{
			name: "truncated path", arch: ArchAMD64, sys: "unlink",
			call: Call{Args: [6]uint64{0x1000}, Str1: []byte("/very/long"), Str1Truncated: true, Ret: 0, Finished: true},
			want: `unlink("/very/long"...) = 0`,
		},
		{
			name: "execve", arch: ArchAMD64, sys: "execve",
			call: Call{Args: [6]uint64{0x1000, 0x2000, 0x7ffd1000}, Str1: []byte("/bin/ls"), Argv: [][]byte{[]byte("ls"), []byte("/")}, Ret: 0, Finished: true},
			want: `execve("/bin/ls", ["ls", "/"], 0x7ffd1000 /* envp */) = 0`,
		},
		{
			name: "execve truncated argv", arch: ArchARM64, sys: "execve",
			call: Call{Args: [6]uint64{0x1000, 0x2000, 0x7ffd1000}, Str1: []byte("/bin/sh"), Argv: [][]byte{[]byte("sh"), []byte("-c")}, ArgvTruncated: true},
			want: `execve("/bin/sh", ["sh", "-c", ...], 0x7ffd1000 /* envp */) = ?`,
		},
		{
			name: "execveat", arch: ArchAMD64, sys: "execveat",
			call: Call{Args: [6]uint64{3, 0x1000, 0x2000, 0, 0x1000}, Str1: []byte(""), Argv: [][]byte{}, Ret: -2, Finished: true},
			want: `execveat(3, "", [], NULL, AT_EMPTY_PATH) = -2 ENOENT`,
		},
		{
			name: "write", arch: ArchAMD64, sys: "write",
			call: Call{Args: [6]uint64{1, 0x5000, 3}, Buf: []byte("hi\n"), Ret: 3, Finished: true},
			want: `write(1, "hi\n", 3) = 3`,
		},
		{
			name: "write truncated", arch: ArchARM64, sys: "write",
			call: Call{Args: [6]uint64{2, 0x5000, 5000}, Buf: []byte("GET /"), BufTruncated: true, Ret: -32, Finished: true},
			want: `write(2, "GET /"..., 5000) = -32 EPIPE`,
		},
		{
			name: "read", arch: ArchAMD64, sys: "read",
			call: Call{Args: [6]uint64{0, 0x5000, 4096}, Buf: []byte("root:x:0:0\n"), Ret: 11, Finished: true},
			want: `read(0, "root:x:0:0\n", 4096) = 11`,
		},
		{
			name: "read unfinished", arch: ArchAMD64, sys: "read",
			call: Call{Args: [6]uint64{0, 0x5000, 4096}},
			want: `read(0, 0x5000, 4096) = ?`,
		},
		{
			name: "read failed", arch: ArchAMD64, sys: "read",
			call: Call{Args: [6]uint64{7, 0x5000, 4096}, Buf: []byte{}, Ret: -11, Finished: true},
			want: `read(7, 0x5000, 4096) = -11 EAGAIN`,
		},
		{
			name: "pread64", arch: ArchARM64, sys: "pread64",
			call: Call{Args: [6]uint64{3, 0x5000, 4, 512}, Buf: []byte("\x7fELF"), Ret: 4, Finished: true},
			want: `pread64(3, "\177ELF", 4, 512) = 4`,
		},
		{
			name: "readlink", arch: ArchAMD64, sys: "readlink",
			call: Call{Args: [6]uint64{0x1000, 0x2000, 4096}, Str1: []byte("/proc/self/exe"), Buf: []byte("/usr/bin/app"), Ret: 12, Finished: true},
			want: `readlink("/proc/self/exe", "/usr/bin/app", 4096) = 12`,
		},
		{
			name: "connect refused", arch: ArchAMD64, sys: "connect",
			call: Call{Args: [6]uint64{3, 0x1000, 16}, Sockaddr: sin("127.0.0.1", 1), Ret: -111, Finished: true},
			want: `connect(3, 127.0.0.1:1, 16) = -111 ECONNREFUSED`,
		},
		{
			name: "connect unix", arch: ArchARM64, sys: "connect",
			call: Call{Args: [6]uint64{3, 0x1000, 110}, Sockaddr: sun("/run/containerd/containerd.sock\x00"), Ret: 0, Finished: true},
			want: `connect(3, unix:/run/containerd/containerd.sock, 110) = 0`,
		},
		{
			name: "accept4", arch: ArchAMD64, sys: "accept4",
			call: Call{Args: [6]uint64{3, 0x1000, 0x2000, 0x80800}, Sockaddr: sin6("::1", 40000, 0), Ret: 5, Finished: true},
			want: `accept4(3, [::1]:40000, 0x2000, SOCK_CLOEXEC|SOCK_NONBLOCK) = 5`,
		},
		{
			name: "accept unfinished", arch: ArchAMD64, sys: "accept",
			call: Call{Args: [6]uint64{3, 0x1000, 0x2000}},
			want: `accept(3, 0x1000, 0x2000) = ?`,
		},
		{
			name: "sendto", arch: ArchAMD64, sys: "sendto",
			call: Call{Args: [6]uint64{4, 0x1000, 2, 0x4000, 0x2000, 16}, Buf: []byte("\x12\x34"), Sockaddr: sin("10.96.0.10", 53), Ret: 2, Finished: true},
			want: `sendto(4, "\0224", 2, MSG_NOSIGNAL, 10.96.0.10:53, 16) = 2`,
		},
		{
			name: "recvfrom without address", arch: ArchARM64, sys: "recvfrom",
			call: Call{Args: [6]uint64{4, 0x1000, 512, 0, 0, 0}, Buf: []byte("ok"), Ret: 2, Finished: true},
			want: `recvfrom(4, "ok", 512, 0, NULL, NULL) = 2`,
		},
		{
			name: "socket", arch: ArchAMD64, sys: "socket",
			call: Call{Args: [6]uint64{2, 0x80801, 6}, Ret: 3, Finished: true},
			want: `socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_TCP) = 3`,
		},
		{
			name: "setsockopt", arch: ArchAMD64, sys: "setsockopt",
			call: Call{Args: [6]uint64{3, 1, 2, 0x1000, 4}, Ret: 0, Finished: true},
			want: `setsockopt(3, SOL_SOCKET, SO_REUSEADDR, 0x1000, 4) = 0`,
		},
		{
			name: "futex wait unfinished", arch: ArchAMD64, sys: "futex",
			call: Call{Args: [6]uint64{0xc000100, 128, 0, 0}},
			want: `futex(0xc000100, FUTEX_WAIT_PRIVATE, 0, NULL) = ?`,
		},
		{
			name: "futex wake", arch: ArchARM64, sys: "futex",
			call: Call{Args: [6]uint64{0xc000100, 129, 1, 0xdead}, Ret: 1, Finished: true},
			want: `futex(0xc000100, FUTEX_WAKE_PRIVATE, 1) = 1`,
		},
		{
			name: "futex wait bitset timed out", arch: ArchAMD64, sys: "futex",
			call: Call{Args: [6]uint64{0x7f00, 9 | 128 | 256, 2, 0x7ffc, 0, 0xffffffff}, Ret: -110, Finished: true},
			want: `futex(0x7f00, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 2, 0x7ffc, NULL, FUTEX_BITSET_MATCH_ANY) = -110 ETIMEDOUT`,
		},
		{
			name: "mmap", arch: ArchAMD64, sys: "mmap",
			call: Call{Args: [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, Ret: 0x7f1234560000, Finished: true},
			want: `mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1234560000`,
		},
		{
			name: "mmap failed", arch: ArchARM64, sys: "mmap",
			call: Call{Args: [6]uint64{0, 1 << 40, 1, 2, 3, 0x1000}, Ret: -12, Finished: true},
			want: `mmap(NULL, 1099511627776, PROT_READ, MAP_PRIVATE, 3, 0x1000) = -12 ENOMEM`,
		},
		{
			name: "brk", arch: ArchAMD64, sys: "brk",
			call: Call{Args: [6]uint64{0}, Ret: 0x5555d000, Finished: true},
			want: `brk(NULL) = 0x5555d000`,
		},
		{
			name: "mremap without fixed address", arch: ArchAMD64, sys: "mremap",
			call: Call{Args: [6]uint64{0x7f00000, 4096, 8192, 1, 0xbad}, Ret: 0x7f10000, Finished: true},
			want: `mremap(0x7f00000, 4096, 8192, MREMAP_MAYMOVE) = 0x7f10000`,
		},
		{
			name: "exit_group", arch: ArchAMD64, sys: "exit_group",
			call: Call{Args: [6]uint64{1}},
			want: `exit_group(1) = ?`,
		},
		{
			name: "clone thread on arm64", arch: ArchARM64, sys: "clone",
			call: Call{Args: [6]uint64{0x3d0f00, 0x7f00, 0x7f10, 0x7f20, 0x7f10}, Ret: 42, Finished: true},
			want: `clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, 0x7f00, 0x7f10, 0x7f20, 0x7f10) = 42`,
		},
		{
			name: "fcntl setfd", arch: ArchAMD64, sys: "fcntl",
			call: Call{Args: [6]uint64{3, 2, 1}, Ret: 0, Finished: true},
			want: `fcntl(3, F_SETFD, FD_CLOEXEC) = 0`,
		},
		{
			name: "fcntl getfl", arch: ArchAMD64, sys: "fcntl",
			call: Call{Args: [6]uint64{3, 3, 0xdead}, Ret: 0x802, Finished: true},
			want: `fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)`,
		},
		{
			name: "fcntl dupfd cloexec", arch: ArchARM64, sys: "fcntl",
			call: Call{Args: [6]uint64{0, 1030, 3}, Ret: 3, Finished: true},
			want: `fcntl(0, F_DUPFD_CLOEXEC, 3) = 3`,
		},
		{
			name: "kill", arch: ArchAMD64, sys: "kill",
			call: Call{Args: [6]uint64{1234, 15}, Ret: 0, Finished: true},
			want: `kill(1234, SIGTERM) = 0`,
		},
		{
			name: "kill probe", arch: ArchAMD64, sys: "kill",
			call: Call{Args: [6]uint64{0xffffffff, 0}, Ret: -3, Finished: true},
			want: `kill(-1, 0) = -3 ESRCH`,
		},
		{
			name: "tgkill", arch: ArchARM64, sys: "tgkill",
			call: Call{Args: [6]uint64{10, 11, 23}, Ret: 0, Finished: true},
			want: `tgkill(10, 11, SIGURG) = 0`,
		},
		{
			name: "rt_sigaction", arch: ArchAMD64, sys: "rt_sigaction",
			call: Call{Args: [6]uint64{34, 0x1000, 0, 8}, Ret: 0, Finished: true},
			want: `rt_sigaction(SIGRT_2, 0x1000, NULL, 8) = 0`,
		},
		{
			name: "rt_sigprocmask", arch: ArchAMD64, sys: "rt_sigprocmask",
			call: Call{Args: [6]uint64{2, 0x1000, 0, 8}, Ret: 0, Finished: true},
			want: `rt_sigprocmask(SIG_SETMASK, 0x1000, NULL, 8) = 0`,
		},
		{
			name: "lseek", arch: ArchAMD64, sys: "lseek",
			call: Call{Args: [6]uint64{3, 0xfffffffffffffff0, 2}, Ret: 100, Finished: true},
			want: `lseek(3, -16, SEEK_END) = 100`,
		},
		{
			name: "clock_nanosleep", arch: ArchARM64, sys: "clock_nanosleep",
			call: Call{Args: [6]uint64{1, 0, 0x1000, 0x1000}},
			want: `clock_nanosleep(CLOCK_MONOTONIC, 0, 0x1000, 0x1000) = ?`,
		},
		{
			name: "unlinkat dir", arch: ArchARM64, sys: "unlinkat",
			call: Call{Args: [6]uint64{atFDCWDArg, 0x1000, 0x200}, Str1: []byte("/tmp/d"), Ret: -39, Finished: true},
			want: `unlinkat(AT_FDCWD, "/tmp/d", AT_REMOVEDIR) = -39 ENOTEMPTY`,
		},
		{
			name: "renameat2", arch: ArchAMD64, sys: "renameat2",
			call: Call{Args: [6]uint64{atFDCWDArg, 0x1000, 4, 0x2000, 1}, Str1: []byte("a.tmp"), Str2: []byte("a"), Ret: 0, Finished: true},
			want: `renameat2(AT_FDCWD, "a.tmp", 4, "a", RENAME_NOREPLACE) = 0`,
		},
		{
			name: "mount", arch: ArchAMD64, sys: "mount",
			call: Call{Args: [6]uint64{0x1000, 0x2000, 0x3000, 0x5000, 0}, Str1: []byte("/src"), Str2: []byte("/dst"), Ret: -1, Finished: true},
			want: `mount("/src", "/dst", 0x3000, MS_BIND|MS_REC, NULL) = -1 EPERM`,
		},
		{
			name: "newfstatat empty path", arch: ArchARM64, sys: "newfstatat",
			call: Call{Args: [6]uint64{3, 0x1000, 0x2000, 0x1000}, Str1: []byte{}, Ret: 0, Finished: true},
			want: `newfstatat(3, "", 0x2000, AT_EMPTY_PATH) = 0`,
		},
		{
			name: "faccessat2", arch: ArchAMD64, sys: "faccessat2",
			call: Call{Args: [6]uint64{atFDCWDArg, 0x1000, 5, 0x200}, Str1: []byte("/bin/sh"), Ret: 0, Finished: true},
			want: `faccessat2(AT_FDCWD, "/bin/sh", R_OK|X_OK, AT_EACCESS) = 0`,
		},
		{
			name: "getxattr", arch: ArchAMD64, sys: "getxattr",
			call: Call{Args: [6]uint64{0x1000, 0x2000, 0, 0}, Str1: []byte("/f"), Str2: []byte("security.selinux"), Ret: -61, Finished: true},
			want: `getxattr("/f", "security.selinux", NULL, 0) = -61 ENODATA`,
		},
		{
			name: "getpid", arch: ArchARM64, sys: "getpid",
			call: Call{Args: [6]uint64{7, 7, 7}, Ret: 77, Finished: true},
			want: `getpid() = 77`,
		},
		{
			name: "umask", arch: ArchAMD64, sys: "umask",
			call: Call{Args: [6]uint64{0o77}, Ret: 0o22, Finished: true},
			want: `umask(077) = 022`,
		},
		{
			// The interrupted openat's -EACCES, restored: not an error.
			name: "rt_sigreturn", arch: ArchAMD64, sys: "rt_sigreturn",
			call: Call{Ret: -13, Finished: true},
			want: `rt_sigreturn() = 0xfffffffffffffff3 (restored)`,
		},
		{
			name: "prctl set name", arch: ArchAMD64, sys: "prctl",
			call: Call{Args: [6]uint64{15, 0x1000, 0, 0, 0}, Ret: 0, Finished: true},
			want: `prctl(PR_SET_NAME, 0x1000, 0, 0, 0) = 0`,
		},
		{
			name: "prctl pdeathsig", arch: ArchARM64, sys: "prctl",
			call: Call{Args: [6]uint64{1, 9}, Ret: 0, Finished: true},
			want: `prctl(PR_SET_PDEATHSIG, SIGKILL) = 0`,
		},
		{
			name: "arch_prctl", arch: ArchAMD64, sys: "arch_prctl",
			call: Call{Args: [6]uint64{0x1002, 0x7f0011}, Ret: 0, Finished: true},
			want: `arch_prctl(ARCH_SET_FS, 0x7f0011) = 0`,
		},
		{
			name: "epoll_ctl", arch: ArchARM64, sys: "epoll_ctl",
			call: Call{Args: [6]uint64{4, 1, 5, 0x1000}, Ret: 0, Finished: true},
			want: `epoll_ctl(4, EPOLL_CTL_ADD, 5, 0x1000) = 0`,
		},
		{
			name: "pipe2", arch: ArchAMD64, sys: "pipe2",
			call: Call{Args: [6]uint64{0x1000, 0o2000000}, Ret: 0, Finished: true},
			want: `pipe2(0x1000, O_CLOEXEC) = 0`,
		},
		{
			name: "wait4", arch: ArchAMD64, sys: "wait4",
			call: Call{Args: [6]uint64{0xffffffffffffffff, 0x1000, 0x40000000, 0}},
			want: `wait4(-1, 0x1000, __WALL, NULL) = ?`,
		},
		{
			name: "ioctl", arch: ArchAMD64, sys: "ioctl",
			call: Call{Args: [6]uint64{1, 0x5413, 0x1000}, Ret: -25, Finished: true},
			want: `ioctl(1, TIOCGWINSZ, 0x1000) = -25 ENOTTY`,
		},
		{
			name: "prlimit64", arch: ArchARM64, sys: "prlimit64",
			call: Call{Args: [6]uint64{0, 7, 0, 0x1000}, Ret: 0, Finished: true},
			want: `prlimit64(0, RLIMIT_NOFILE, NULL, 0x1000) = 0`,
		},
		{
			name: "restart code", arch: ArchAMD64, sys: "epoll_wait",
			call: Call{Args: [6]uint64{4, 0x1000, 128, 0xffffffff}, Ret: -4, Finished: true},
			want: `epoll_wait(4, 0x1000, 128, -1) = -4 EINTR`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			c.Nr = nr(t, tt.arch, tt.sys)
			if got := line(tt.arch, &c); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestFormatUnknown(t *testing.T) {
	tests := []struct {
		name string
		arch Arch
		call Call
		want string
	}{
		{
			name: "number without a name", arch: ArchAMD64,
			call: Call{Nr: 999, Args: [6]uint64{1, 0xff}, Ret: 0, Finished: true},
			want: `syscall_999(0x1, 0xff, 0, 0, 0, 0) = 0`,
		},
		{
			name: "negative number", arch: ArchARM64,
			call: Call{Nr: -1, Ret: -38, Finished: true},
			want: `syscall_-1(0, 0, 0, 0, 0, 0) = -38 ENOSYS`,
		},
		{
			name: "known syscall without signature", arch: ArchAMD64,
			call: Call{Nr: 156, Args: [6]uint64{0x1000}, Ret: -1, Finished: true}, // _sysctl
			want: `_sysctl(0x1000, 0, 0, 0, 0, 0) = -1 EPERM`,
		},
		{
			name: "unknown architecture", arch: Arch("sparc"),
			call: Call{Nr: 3, Args: [6]uint64{3}, Ret: 0, Finished: true},
			want: `syscall_3(0x3, 0, 0, 0, 0, 0) = 0`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := line(tt.arch, &tt.call); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if n, p, r := ArchAMD64.Format(nil); n != "" || p != "" || r != "" {
		t.Errorf("Format(nil) = %q, %q, %q; want empty", n, p, r)
	}
}
