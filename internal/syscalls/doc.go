// Package syscalls knows the Linux syscall tables of amd64 and arm64 and
// renders recorded syscalls the way strace prints them: names, decoded
// arguments, errno and signal names.
//
// Both architectures' tables are compiled on every host, so a dump taken on
// one machine can be decoded on another.
package syscalls

//go:generate go run ./internal/gen
