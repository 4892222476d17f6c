package syscalls

import "testing"

// capOf builds an expected Capture from the fields that differ from NoCapture.
func capOf(edit func(c *Capture)) Capture {
	c := NoCapture()
	edit(&c)
	return c
}

func TestCapture(t *testing.T) {
	str1 := func(i int) Capture { return capOf(func(c *Capture) { c.Str1 = i }) }
	str12 := func(i, j int) Capture { return capOf(func(c *Capture) { c.Str1, c.Str2 = i, j }) }
	tests := []struct {
		sys  string
		want Capture
	}{
		{"openat", str1(1)},
		{"openat2", str1(1)},
		{"execve", capOf(func(c *Capture) { c.Str1, c.Argv = 0, 1 })},
		{"execveat", capOf(func(c *Capture) { c.Str1, c.Argv = 1, 2 })},
		{"newfstatat", str1(1)},
		{"statx", str1(1)},
		{"faccessat2", str1(1)},
		{"readlinkat", capOf(func(c *Capture) { c.Str1, c.Buf, c.BufLen, c.BufAtExit = 1, 2, 3, true })},
		{"unlinkat", str1(1)},
		{"renameat", str12(1, 3)},
		{"renameat2", str12(1, 3)},
		{"linkat", str12(1, 3)},
		{"symlinkat", str12(0, 2)},
		{"mkdirat", str1(1)},
		{"mknodat", str1(1)},
		{"fchmodat", str1(1)},
		{"fchownat", str1(1)},
		{"utimensat", str1(1)},
		{"chdir", str1(0)},
		{"chroot", str1(0)},
		{"truncate", str1(0)},
		{"statfs", str1(0)},
		{"mount", str12(0, 1)},
		{"umount2", str1(0)},
		{"pivot_root", str12(0, 1)},
		{"swapon", str1(0)},
		{"inotify_add_watch", str1(1)},
		{"getxattr", str12(0, 1)},
		{"setxattr", str12(0, 1)},
		{"lremovexattr", str12(0, 1)},
		{"fgetxattr", str1(1)},
		{"connect", capOf(func(c *Capture) { c.Sockaddr, c.SockaddrLen = 1, 2 })},
		{"bind", capOf(func(c *Capture) { c.Sockaddr, c.SockaddrLen = 1, 2 })},
		{"accept", capOf(func(c *Capture) { c.Sockaddr, c.SockaddrLen, c.SockaddrAtExit = 1, 2, true })},
		{"accept4", capOf(func(c *Capture) { c.Sockaddr, c.SockaddrLen, c.SockaddrAtExit = 1, 2, true })},
		{"getsockname", capOf(func(c *Capture) { c.Sockaddr, c.SockaddrLen, c.SockaddrAtExit = 1, 2, true })},
		{"getpeername", capOf(func(c *Capture) { c.Sockaddr, c.SockaddrLen, c.SockaddrAtExit = 1, 2, true })},
		{"sendto", capOf(func(c *Capture) { c.Buf, c.BufLen, c.Sockaddr, c.SockaddrLen = 1, 2, 4, 5 })},
		{"recvfrom", capOf(func(c *Capture) {
			c.Buf, c.BufLen, c.BufAtExit = 1, 2, true
			c.Sockaddr, c.SockaddrLen, c.SockaddrAtExit = 4, 5, true
		})},
		{"read", capOf(func(c *Capture) { c.Buf, c.BufLen, c.BufAtExit = 1, 2, true })},
		{"pread64", capOf(func(c *Capture) { c.Buf, c.BufLen, c.BufAtExit = 1, 2, true })},
		{"write", capOf(func(c *Capture) { c.Buf, c.BufLen = 1, 2 })},
		{"pwrite64", capOf(func(c *Capture) { c.Buf, c.BufLen = 1, 2 })},
		{"close", NoCapture()},
		{"futex", NoCapture()},
		{"mmap", NoCapture()},
		{"sendmsg", NoCapture()},
	}
	for _, a := range []Arch{ArchAMD64, ArchARM64} {
		for _, tt := range tests {
			n := nr(t, a, tt.sys)
			if got := a.Capture(n); got != tt.want {
				t.Errorf("%s.Capture(%s=%d) = %+v, want %+v", a, tt.sys, n, got, tt.want)
			}
		}
	}
}

func TestCaptureAMD64Only(t *testing.T) {
	tests := []struct {
		sys  string
		want Capture
	}{
		{"open", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"creat", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"stat", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"lstat", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"access", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"readlink", capOf(func(c *Capture) { c.Str1, c.Buf, c.BufLen, c.BufAtExit = 0, 1, 2, true })},
		{"rename", capOf(func(c *Capture) { c.Str1, c.Str2 = 0, 1 })},
		{"mkdir", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"rmdir", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"unlink", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"link", capOf(func(c *Capture) { c.Str1, c.Str2 = 0, 1 })},
		{"symlink", capOf(func(c *Capture) { c.Str1, c.Str2 = 0, 1 })},
		{"chmod", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"chown", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"lchown", capOf(func(c *Capture) { c.Str1 = 0 })},
		{"mknod", capOf(func(c *Capture) { c.Str1 = 0 })},
	}
	for _, tt := range tests {
		if got := ArchAMD64.Capture(nr(t, ArchAMD64, tt.sys)); got != tt.want {
			t.Errorf("amd64 Capture(%s) = %+v, want %+v", tt.sys, got, tt.want)
		}
		if _, ok := ArchARM64.Number(tt.sys); ok {
			t.Errorf("arm64 unexpectedly has %s", tt.sys)
		}
	}
}

func TestCaptureOutOfRange(t *testing.T) {
	for _, n := range []int{-1, 1 << 20} {
		if got := ArchAMD64.Capture(n); got != NoCapture() {
			t.Errorf("Capture(%d) = %+v, want NoCapture", n, got)
		}
	}
	if got := Arch("").Capture(0); got != NoCapture() {
		t.Errorf(`Arch("").Capture(0) = %+v`, got)
	}
}

// TestSignatures checks the hand-written signature tables for mistakes the
// compiler cannot see.
func TestSignatures(t *testing.T) {
	if len(signatures) < 120 {
		t.Errorf("only %d signatures, want at least 120", len(signatures))
	}
	for name, sg := range signatures {
		_, amd := ArchAMD64.Number(name)
		_, arm := ArchARM64.Number(name)
		if !amd && !arm {
			t.Errorf("signature %q names no syscall on either architecture", name)
		}
		if len(sg.args) > 6 {
			t.Errorf("%s: %d arguments", name, len(sg.args))
		}
		paths := 0
		for i, a := range sg.args {
			switch a.role {
			case rolePath:
				paths++
			case roleSockaddr, roleSockaddrOut, roleBuf, roleBufOut:
				if i+1 >= len(sg.args) {
					t.Errorf("%s: argument %d has no length argument after it", name, i)
				}
			}
			if a.fmt == nil {
				t.Errorf("%s: argument %d has no renderer", name, i)
			}
		}
		if paths > 3 {
			t.Errorf("%s: %d string arguments", name, paths)
		}
	}
}
