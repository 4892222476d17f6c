package dump

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// MaxLimit bounds limit=; a dump never returns more records than this.
const MaxLimit = 1 << 20

// Query is a parsed /dump request.
type Query struct {
	Cgroup   string       // cgroup path; "" lists the rings
	Format   string       // "text" or "json"
	Syscalls map[int]bool // only these syscall numbers; nil = all
	Failed   bool         // only syscalls that returned an error
	Limit    int          // newest N records; 0 = all
	Since    time.Time    // only records that started at or after; zero = all
	names    []string
}

var knownParams = []string{"cgroup", "format", "syscall", "failed", "limit", "since"}

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
	if q.Cgroup == "" && (q.Syscalls != nil || q.Failed || q.Limit != 0 || !q.Since.IsZero()) {
		return q, fmt.Errorf("syscall, failed, limit and since filter one ring: add cgroup=")
	}
	return q, nil
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
