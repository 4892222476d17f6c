package syscalls

import (
	"strconv"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestErrnoName(t *testing.T) {
	tests := []struct {
		errno int
		want  string
	}{
		{1, "EPERM"},
		{2, "ENOENT"},
		{11, "EAGAIN"},
		{12, "ENOMEM"},
		{13, "EACCES"},
		{24, "EMFILE"},
		{35, "EDEADLK"},
		{95, "EOPNOTSUPP"},
		{110, "ETIMEDOUT"},
		{111, "ECONNREFUSED"},
		{133, "EHWPOISON"},
		{512, "ERESTARTSYS"},
		{0, "E0"},
		{41, "E41"},
		{4000, "E4000"},
		{-5, "E-5"},
	}
	for _, tt := range tests {
		if got := ErrnoName(tt.errno); got != tt.want {
			t.Errorf("ErrnoName(%d) = %q, want %q", tt.errno, got, tt.want)
		}
	}
}
