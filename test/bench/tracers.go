package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/link"
)

// syscallHooks are the raw tracepoints whose programs slow every syscall.
var syscallHooks = map[string]bool{"sys_enter": true, "sys_exit": true}

// foreignLinks returns the BPF links on sys_enter/sys_exit that the
// harness did not make (ours holds the ids of the floor's links and of the
// exporter under test), id → hook. Anything found slows every syscall of
// every mode, "none" included, so that added costs read low.
func foreignLinks(ours map[link.ID]bool) (map[link.ID]string, error) {
	it := new(link.Iterator)
	defer it.Close()
	found := map[link.ID]string{}
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			continue // a link type that cannot say where it is attached
		}
		rt := info.RawTracepoint()
		if rt == nil || !syscallHooks[rt.Name] || ours[it.ID] {
			continue
		}
		found[it.ID] = rt.Name
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("listing BPF links: %w", err)
	}
	return found, nil
}

// describeLinks says which process holds the links, briefly:
// "links 12 (sys_enter), 13 (sys_exit) held by PID 9 (cmdline…)".
func describeLinks(found map[link.ID]string) string {
	holders := linkHolders()
	byHolder := map[string][]string{}
	for id, hook := range found {
		h := holders[id]
		if h == "" {
			h = "held by no process (pinned?)"
		}
		byHolder[h] = append(byHolder[h], fmt.Sprintf("%d (%s)", id, hook))
	}
	var out []string
	for h, links := range byHolder {
		sort.Strings(links)
		out = append(out, fmt.Sprintf("links %s %s", strings.Join(links, ", "), h))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// linkHolders maps link ids to "PID N (cmdline)" of a process holding an
// fd to them, from /proc/*/fdinfo.
func linkHolders() map[link.ID]string {
	out := map[link.ID]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid := filepath.Base(p)
		ids, _ := procLinkIDs(pid)
		if len(ids) == 0 {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		line := strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
		if r := []rune(line); len(r) > 100 {
			line = string(r[:100]) + "…"
		}
		desc := fmt.Sprintf("held by PID %s (%s)", pid, line)
		for id := range ids {
			out[id] = desc
		}
	}
	return out
}

// procLinkIDs is the set of BPF link ids process pid holds fds to.
func procLinkIDs(pid string) (map[link.ID]bool, error) {
	dir := filepath.Join("/proc", pid, "fdinfo")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading fds of PID %s: %w", pid, err)
	}
	ids := map[link.ID]bool{}
	for _, fd := range fds {
		b, err := os.ReadFile(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(line, "link_id:")
			if !ok {
				continue
			}
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				ids[link.ID(n)] = true
			}
		}
	}
	return ids, nil
}
