package syscalls

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// Arch identifies a syscall ABI by its GOARCH name.
type Arch string

// Supported architectures.
const (
	ArchAMD64 Arch = "amd64"
	ArchARM64 Arch = "arm64"
)

// ErrUnknownArch is returned by ParseArch for unsupported names.
var ErrUnknownArch = errors.New("unknown architecture")

// archInfo holds the per-architecture lookup tables.
type archInfo struct {
	names    []string
	numbers  map[string]int
	captures []Capture
}

var archInfos = map[Arch]*archInfo{
	ArchAMD64: newArchInfo(namesAMD64[:]),
	ArchARM64: newArchInfo(namesARM64[:]),
}

func newArchInfo(names []string) *archInfo {
	ai := &archInfo{
		names:    names,
		numbers:  make(map[string]int, len(names)),
		captures: make([]Capture, len(names)),
	}
	for nr, name := range names {
		ai.captures[nr] = NoCapture()
		if name == "" {
			continue
		}
		ai.numbers[name] = nr
		if s, ok := signatures[name]; ok {
			ai.captures[nr] = s.capture()
		}
	}
	return ai
}

// HostArch returns the architecture of the running binary, or "" when it is
// not one this package knows.
func HostArch() Arch {
	a := Arch(runtime.GOARCH)
	if _, ok := archInfos[a]; ok {
		return a
	}
	return ""
}

// ParseArch accepts GOARCH and uname -m spellings ("amd64", "x86_64",
// "arm64", "aarch64"), case-insensitively.
func ParseArch(s string) (Arch, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "amd64", "x86_64", "x86-64", "x64":
		return ArchAMD64, nil
	case "arm64", "aarch64":
		return ArchARM64, nil
	}
	return "", fmt.Errorf("parse arch %q: %w", s, ErrUnknownArch)
}

func (a Arch) info() *archInfo {
	if ai, ok := archInfos[a]; ok {
		return ai
	}
	return &archInfo{}
}

// Name returns the kernel name of syscall nr, or "syscall_<nr>" when the
// number is unknown.
func (a Arch) Name(nr int) string {
	names := a.info().names
	if nr >= 0 && nr < len(names) && names[nr] != "" {
		return names[nr]
	}
	return "syscall_" + strconv.Itoa(nr)
}

// Number returns the syscall number of name on a.
func (a Arch) Number(name string) (int, bool) {
	nr, ok := a.info().numbers[name]
	return nr, ok
}

// MaxNr returns the highest known syscall number plus one, the size of a
// per-number array.
func (a Arch) MaxNr() int {
	return len(a.info().names)
}

// Capture tells which user-memory arguments of syscall nr the recorder
// copies; NoCapture for syscalls without such payloads or unknown numbers.
func (a Arch) Capture(nr int) Capture {
	caps := a.info().captures
	if nr >= 0 && nr < len(caps) {
		return caps[nr]
	}
	return NoCapture()
}
