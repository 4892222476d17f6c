package dump

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// MaxLimit bounds limit=; a dump never returns more records than this.
const MaxLimit = 1 << 20

// Query is a parsed /dump request.
type Query struct {
	Cgroup    string       // cgroup path
	Namespace string       // with Pod: the pod's namespace ("" = find it)
	Pod       string       // pod name; neither Cgroup nor Pod lists the rings
	Container string       // with Pod: only this container
	Previous  int          // 0: the live ring(s); n: the n-th most recent frozen ring (previous=true is 1)
	Format    string       // "text" or "json"
	Syscalls  map[int]bool // only these syscall numbers; nil = all
	Failed    bool         // only syscalls that returned an error
	Limit     int          // newest N records; 0 = all
	Since     time.Time    // only records that started at or after; zero = all
	Around    uint64       // only the records within AroundSpan of this seq (an exemplar's); 0 = all
	CgroupID  uint64       // only the run (ring) of this cgroup id (an exemplar's); 0 = any
	names     []string
}

var knownParams = []string{"cgroup", "namespace", "pod", "container", "previous", "format", "syscall", "failed", "limit", "since", "around", "cgroup_id"}

// AroundSpan is how many records on each side of around=N a dump shows.
const AroundSpan = 16

// MaxPrevious bounds previous=N.
const MaxPrevious = 100

// ParseQuery validates the query string of a /dump request. Every error is
// meant for the person who typed the URL.
func ParseQuery(v url.Values, arch syscalls.Arch, now time.Time) (Query, error) {
	q := Query{Format: "text"}
	for k, vals := range v {
		if !slices.Contains(knownParams, k) {
			return q, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(knownParams, ", "))
		}
		if len(vals) > 1 {
			return q, fmt.Errorf("parameter %q given %d times", k, len(vals))
		}
	}
	q.Cgroup = v.Get("cgroup")
	if q.Cgroup != "" && (!strings.HasPrefix(q.Cgroup, "/") || strings.Contains(q.Cgroup, "/../") || strings.HasSuffix(q.Cgroup, "/..")) {
		return q, fmt.Errorf("cgroup %q: must be an absolute path below the cgroup2 mount, like /system.slice/nginx.service", q.Cgroup)
	}
	q.Namespace, q.Pod, q.Container = v.Get("namespace"), v.Get("pod"), v.Get("container")
	switch {
	case q.Cgroup != "" && (q.Pod != "" || q.Namespace != "" || q.Container != ""):
		return q, fmt.Errorf("give either cgroup= or pod= (with namespace= and container=), not both")
	case q.Pod == "" && (q.Namespace != "" || q.Container != ""):
		return q, fmt.Errorf("namespace= and container= need pod=")
	}
	for name, val := range map[string]string{"namespace": q.Namespace, "pod": q.Pod, "container": q.Container} {
		// The sandbox's label, as in the metrics, is not a Kubernetes name.
		if name == "container" && val == containers.SandboxContainer {
			continue
		}
		if val != "" && !validName(val) {
			return q, fmt.Errorf("%s %q: not a Kubernetes name", name, val)
		}
	}
	if s := v.Get("previous"); s != "" {
		switch b, err := strconv.ParseBool(s); {
		case err == nil && b:
			q.Previous = 1
		case err == nil:
		default:
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxPrevious {
				return q, fmt.Errorf("previous %q: must be true, false, or a number from 1 (the last run) to %d", s, MaxPrevious)
			}
			q.Previous = n
		}
		if q.Previous > 0 && q.Cgroup == "" && q.Pod == "" {
			return q, fmt.Errorf("previous needs cgroup= or pod=")
		}
	}
	switch f := v.Get("format"); f {
	case "", "text":
	case "json":
		q.Format = "json"
	default:
		return q, fmt.Errorf("format %q: must be text or json", f)
	}
	if s := v.Get("syscall"); s != "" {
		q.Syscalls = map[int]bool{}
		for _, name := range strings.Split(s, ",") {
			name = strings.TrimSpace(name)
			nr, ok := arch.Number(name)
			if !ok {
				return q, fmt.Errorf("syscall %q: not a syscall on %s", name, arch)
			}
			q.Syscalls[nr] = true
			q.names = append(q.names, name)
		}
	}
	if s := v.Get("failed"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, fmt.Errorf("failed %q: must be true or false", s)
		}
		q.Failed = b
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return q, fmt.Errorf("limit %q: must be a number from 1 to %d", s, MaxLimit)
		}
		q.Limit = n
	}
	if s := v.Get("since"); s != "" {
		t, err := parseSince(s, now)
		if err != nil {
			return q, err
		}
		q.Since = t
	}
	if s := v.Get("around"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1 {
			return q, fmt.Errorf("around %q: must be a record's seq (a number from 1), as an exemplar names it", s)
		}
		q.Around = n
	}
	if s := v.Get("cgroup_id"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1 {
			return q, fmt.Errorf("cgroup_id %q: must be the cgroup id of a run, as an exemplar or a JSON dump names it", s)
		}
		if q.Previous > 0 {
			return q, fmt.Errorf("cgroup_id names one run: previous does not go with it")
		}
		q.CgroupID = n
	}
	if q.Cgroup == "" && q.Pod == "" && (q.Syscalls != nil || q.Failed || q.Limit != 0 || !q.Since.IsZero() || q.Around != 0 || q.CgroupID != 0) {
		return q, fmt.Errorf("syscall, failed, limit, since, around and cgroup_id filter a dump: add cgroup= or pod=")
	}
	return q, nil
}

// validName accepts Kubernetes object names (DNS-1123 labels and
// subdomains, at most 253 characters).
func validName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// parseSince accepts a duration back from now ("30s", "5m") or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("since %q: a duration must be positive", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("since %q: must be a duration like 30s or 5m, or an RFC 3339 time like 2006-01-02T15:04:05Z", s)
}
