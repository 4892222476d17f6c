#!/usr/bin/env bash
# Shows a real dump within a minute on a host where nothing runs in a child
# cgroup yet: starts the exporter recording a private cgroup tree, runs the
# classic crash (an unprivileged process tries to write /etc/passwd and exits
# 1) in a kubelet-shaped container cgroup there, and prints what was recorded.
set -euo pipefail

bin=${1:-./flightrec_exporter}
addr=${DEMO_ADDR:-127.0.0.1:9748}
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it loads BPF programs and creates cgroups)" >&2; exit 1; }

mnt=$(awk '{for (i = 1; i <= NF; i++) if ($i == "-" && $(i+1) == "cgroup2") { print $5; exit }}' /proc/self/mountinfo)
[ -n "$mnt" ] || { echo "demo: no cgroup2 filesystem mounted" >&2; exit 1; }

parent=/flightrec-demo-$$
uid=$(cat /proc/sys/kernel/random/uuid)
id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
container=$parent/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid//-/_}.slice/cri-containerd-$id.scope

exporter_pid=
cleanup() {
	[ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null && wait "$exporter_pid" 2>/dev/null
	d=$container
	while [ "$d" != "/" ] && [ -n "$d" ]; do rmdir "$mnt$d" 2>/dev/null || true; d=$(dirname "$d"); done
}
trap cleanup EXIT

mkdir -p "$mnt$container"
# --bpf.pin-path= : nothing pinned. At the default pin path the demo would
# leave its maps pinned after it, or take over a node exporter's pins.
"$bin" --recorder.cgroup-parent="$parent" --web.listen-address="$addr" --bpf.pin-path= --log.level=warn &
exporter_pid=$!
for _ in $(seq 300); do
	curl -sf "http://$addr/metrics" 2>/dev/null | grep -q '^flightrec_recorder_up 1' && break
	kill -0 "$exporter_pid" 2>/dev/null || { echo "demo: the exporter exited" >&2; exit 1; }
	sleep 0.1
done

echo "### A container tries to write /etc/passwd as nobody, then exits 1:"
sh -c "echo \$\$ > '$mnt$container/cgroup.procs' && exec setpriv --reuid=65534 --regid=65534 --clear-groups \
	sh -c 'echo x >> /etc/passwd; echo x >> /etc/passwd; exit 1'" || echo "(exited with $?)"
echo
echo "### curl http://$addr/dump"
curl -s "http://$addr/dump"
echo
q="cgroup=$(printf %s "$container" | sed 's/:/%3A/g')"
echo "### curl 'http://$addr/dump?$q&failed=true&syscall=openat'"
curl -s "http://$addr/dump?$q&failed=true&syscall=openat"
echo
echo "### curl 'http://$addr/dump?$q&limit=12'"
curl -s "http://$addr/dump?$q&limit=12"
