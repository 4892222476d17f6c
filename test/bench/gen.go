package main

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -mcpu=v3" -target amd64,arm64 floor floor.bpf.c
