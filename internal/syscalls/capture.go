package syscalls

// Capture says which user-memory arguments of a syscall the kernel side
// copies into the record. Argument indexes are 0..5; -1 means "none".
type Capture struct {
	Str1, Str2     int  // NUL-terminated strings (paths, xattr names)
	Argv           int  // char** vector (execve, execveat)
	Sockaddr       int  // struct sockaddr*
	SockaddrLen    int  // index of its length argument
	SockaddrAtExit bool // filled by the kernel: SockaddrLen is a socklen_t* and the copy happens at exit
	Buf            int  // data buffer
	BufLen         int  // index of its length argument
	BufAtExit      bool // filled by the kernel: copy min(ret, cap) bytes at exit
}

// NoCapture returns a Capture with every index set to -1.
func NoCapture() Capture {
	return Capture{Str1: -1, Str2: -1, Argv: -1, Sockaddr: -1, SockaddrLen: -1, Buf: -1, BufLen: -1}
}

// role marks an argument whose user memory the recorder copies.
type role uint8

const (
	roleNone        role = iota
	rolePath             // NUL-terminated string; the first two are captured
	roleArgv             // char** vector
	roleSockaddr         // sockaddr read by the kernel; the next argument is its length
	roleSockaddrOut      // sockaddr written by the kernel; the next argument is a socklen_t*
	roleBuf              // buffer read by the kernel; the next argument is its length
	roleBufOut           // buffer written by the kernel; the next argument is its capacity
)

// capture derives the Capture of a signature from its argument roles.
func (s sig) capture() Capture {
	c := NoCapture()
	for i, a := range s.args {
		switch a.role {
		case rolePath:
			if c.Str1 < 0 {
				c.Str1 = i
			} else if c.Str2 < 0 {
				c.Str2 = i
			}
		case roleArgv:
			c.Argv = i
		case roleSockaddr, roleSockaddrOut:
			c.Sockaddr, c.SockaddrLen = i, i+1
			c.SockaddrAtExit = a.role == roleSockaddrOut
		case roleBuf, roleBufOut:
			c.Buf, c.BufLen = i, i+1
			c.BufAtExit = a.role == roleBufOut
		}
	}
	return c
}
