package syscalls

import "testing"

func TestSignalName(t *testing.T) {
	tests := []struct {
		sig  int
		want string
	}{
		{1, "SIGHUP"},
		{9, "SIGKILL"},
		{11, "SIGSEGV"},
		{15, "SIGTERM"},
		{17, "SIGCHLD"},
		{31, "SIGSYS"},
		{32, "SIGRT_0"},
		{34, "SIGRT_2"},
		{64, "SIGRT_32"},
		{65, "SIG65"},
		{0, "SIG0"},
		{-3, "SIG-3"},
	}
	for _, tt := range tests {
		if got := SignalName(tt.sig); got != tt.want {
			t.Errorf("SignalName(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
}

func TestSigCodeName(t *testing.T) {
	tests := []struct {
		sig, code int
		want      string
	}{
		{11, 1, "SEGV_MAPERR"},
		{11, 2, "SEGV_ACCERR"},
		{7, 1, "BUS_ADRALN"},
		{4, 2, "ILL_ILLOPN"},
		{8, 1, "FPE_INTDIV"},
		{17, 1, "CLD_EXITED"},
		{17, 2, "CLD_KILLED"},
		{5, 1, "TRAP_BRKPT"},
		{31, 1, "SYS_SECCOMP"},
		{11, 0, "SI_USER"},
		{11, 0x80, "SI_KERNEL"},
		{15, -1, "SI_QUEUE"},
		{15, -6, "SI_TKILL"},
		{15, 1, "1"},   // SIGTERM has no specific codes
		{11, 99, "99"}, // unknown SIGSEGV code
		{11, -99, "-99"},
	}
	for _, tt := range tests {
		if got := SigCodeName(tt.sig, tt.code); got != tt.want {
			t.Errorf("SigCodeName(%d, %d) = %q, want %q", tt.sig, tt.code, got, tt.want)
		}
	}
}
