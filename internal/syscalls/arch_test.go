package syscalls

import (
	"errors"
	"runtime"
	"testing"
)

func TestName(t *testing.T) {
	tests := []struct {
		arch Arch
		nr   int
		want string
	}{
		{ArchAMD64, 0, "read"},
		{ArchAMD64, 257, "openat"},
		{ArchAMD64, 231, "exit_group"},
		{ArchAMD64, 110, "getppid"},
		{ArchAMD64, 262, "newfstatat"},
		{ArchAMD64, 13, "rt_sigaction"},
		{ArchAMD64, 156, "_sysctl"},
		{ArchAMD64, 400, "syscall_400"}, // gap between 334 and 424
		{ArchAMD64, -1, "syscall_-1"},
		{ArchAMD64, 1 << 20, "syscall_1048576"},
		{ArchARM64, 56, "openat"},
		{ArchARM64, 94, "exit_group"},
		{ArchARM64, 173, "getppid"},
		{ArchARM64, 79, "newfstatat"},
		{ArchARM64, 222, "mmap"},
		{ArchARM64, 244, "syscall_244"}, // arch-specific base, not a syscall
		{Arch("mips"), 1, "syscall_1"},
	}
	for _, tt := range tests {
		if got := tt.arch.Name(tt.nr); got != tt.want {
			t.Errorf("%s.Name(%d) = %q, want %q", tt.arch, tt.nr, got, tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		arch   Arch
		name   string
		want   int
		wantOK bool
	}{
		{ArchAMD64, "openat", 257, true},
		{ArchARM64, "openat", 56, true},
		{ArchAMD64, "open", 2, true},
		{ArchARM64, "open", 0, false}, // arm64 has only openat
		{ArchARM64, "clone3", 435, true},
		{ArchAMD64, "nosuchcall", 0, false},
		{Arch(""), "read", 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.arch.Number(tt.name)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s.Number(%q) = %d, %v; want %d, %v", tt.arch, tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestNameNumberRoundTrip(t *testing.T) {
	for _, a := range []Arch{ArchAMD64, ArchARM64} {
		for nr := 0; nr < a.MaxNr(); nr++ {
			name := a.Name(nr)
			got, ok := a.Number(name)
			if ok && got != nr {
				t.Errorf("%s: Number(Name(%d)=%q) = %d", a, nr, name, got)
			}
		}
	}
}

func TestMaxNr(t *testing.T) {
	for _, a := range []Arch{ArchAMD64, ArchARM64} {
		max := a.MaxNr()
		if max < 400 {
			t.Errorf("%s.MaxNr() = %d, want at least 400", a, max)
		}
		if name := a.Name(max - 1); name == "syscall_"+itoa(max-1) {
			t.Errorf("%s: highest number %d has no name", a, max-1)
		}
		if name := a.Name(max); name != "syscall_"+itoa(max) {
			t.Errorf("%s.Name(MaxNr()) = %q, want unknown", a, name)
		}
	}
	if got := Arch("").MaxNr(); got != 0 {
		t.Errorf(`Arch("").MaxNr() = %d, want 0`, got)
	}
}

func TestParseArch(t *testing.T) {
	tests := []struct {
		in      string
		want    Arch
		wantErr bool
	}{
		{"amd64", ArchAMD64, false},
		{"x86_64", ArchAMD64, false},
		{" X86_64\n", ArchAMD64, false},
		{"arm64", ArchARM64, false},
		{"aarch64", ArchARM64, false},
		{"riscv64", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ParseArch(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseArch(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnknownArch) {
			t.Errorf("ParseArch(%q) error %v does not wrap ErrUnknownArch", tt.in, err)
		}
	}
}

func TestHostArch(t *testing.T) {
	want := Arch(runtime.GOARCH)
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		want = ""
	}
	if got := HostArch(); got != want {
		t.Errorf("HostArch() = %q, want %q", got, want)
	}
}
