// Package bpf loads the flight recorder's kernel programs and reads their
// rings and maps.
package bpf

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target amd64,arm64 recorder recorder.bpf.c
