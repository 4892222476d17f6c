// Package redact hides secrets in the strings a dump shows: values of flags
// such as --password in command lines, KEY=value pairs whose key names a
// secret, and Authorization or Cookie headers in captured buffers.
//
// It works in user space on the captured bytes, before they are formatted;
// the kernel programs copy what they always copied.
package redact

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
)

// Mark replaces every secret.
const Mark = "[redacted]"

// Builtin is the name that stands for the built-in patterns in a list of
// patterns (--dump.redact=builtin).
const Builtin = "builtin"

// secretWord is the part of a flag or variable name that makes its value a
// secret: db-password, API_KEY, client_secret, GITHUB_TOKEN ...
const secretWord = `(?:password|passwd|passphrase|token|secret|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)`

// BuiltinPatterns are the patterns used unless others are given. The first
// group of each match is the secret.
var BuiltinPatterns = []string{
	// --password=x, --password x, -p x, --db-password x, -token=x
	`(?i)(?:^|\s)--?(?:[\w.-]*` + secretWord + `[\w.-]*|p|pass)(?:=|\s+)(\S+)`,
	// PASSWORD=x, MYSQL_ROOT_PASSWORD=x, api_key=x (also in query strings)
	`(?i)(?:^|[^\w])[\w.]*` + secretWord + `[\w.]*=([^\s&;]+)`,
	// HTTP headers: Authorization: Bearer x, Cookie: a=b, in buffers and in
	// arguments (curl -H 'Authorization: Bearer x')
	`(?i)\b(?:proxy-authorization|authorization|cookie|set-cookie|x-api-key|x-auth-token|private-token)[ \t]*:[ \t]*(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?([^\r\n]+)`,
}

// Redactor replaces what its patterns match. A nil Redactor redacts
// nothing.
type Redactor struct {
	patterns []*regexp.Regexp
}

// New compiles patterns (Go regular expressions); the first capture group
// of a match is replaced, or the whole match when the pattern has no group.
// The name Builtin stands for BuiltinPatterns. No patterns: nil, which
// redacts nothing.
func New(patterns []string) (*Redactor, error) {
	var r Redactor
	for _, p := range patterns {
		if p == Builtin {
			for _, b := range BuiltinPatterns {
				r.patterns = append(r.patterns, regexp.MustCompile(b))
			}
			continue
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redaction pattern %q: %w", p, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("redaction pattern %q matches the empty string", p)
		}
		r.patterns = append(r.patterns, re)
	}
	if len(r.patterns) == 0 {
		return nil, nil
	}
	return &r, nil
}

// span is a range of bytes to replace, [start, end).
type span struct{ start, end int }

// spans finds the secrets in b, sorted and merged.
func (r *Redactor) spans(b []byte) []span {
	var out []span
	for _, re := range r.patterns {
		for _, m := range re.FindAllSubmatchIndex(b, -1) {
			s := span{m[0], m[1]}
			if len(m) >= 4 {
				if m[2] < 0 {
					continue
				}
				s = span{m[2], m[3]}
			}
			if s.end > s.start {
				out = append(out, s)
			}
		}
	}
	if len(out) < 2 {
		return out
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	merged := out[:1]
	for _, s := range out[1:] {
		last := &merged[len(merged)-1]
		if s.start <= last.end {
			last.end = max(last.end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// replace returns b with the spans (relative to b, within it) replaced by
// Mark.
func replace(b []byte, spans []span) []byte {
	out := make([]byte, 0, len(b)+len(spans)*len(Mark))
	at := 0
	for _, s := range spans {
		out = append(out, b[at:s.start]...)
		out = append(out, Mark...)
		at = s.end
	}
	return append(out, b[at:]...)
}

// Bytes returns b with its secrets replaced, or b itself when it has none.
// b is never modified.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil || len(b) == 0 {
		return b
	}
	spans := r.spans(b)
	if len(spans) == 0 {
		return b
	}
	return replace(b, spans)
}

// Argv returns an argument vector with its secrets replaced, or argv itself
// when it has none. The arguments are matched as one text, one argument a
// line, so that a pattern sees "--password" and its value in the next
// argument; each argument keeps what is not secret.
// argv is never modified.
func (r *Redactor) Argv(argv [][]byte) [][]byte {
	if r == nil || len(argv) == 0 {
		return argv
	}
	line := bytes.Join(argv, []byte{'\n'})
	spans := r.spans(line)
	if len(spans) == 0 {
		return argv
	}
	out := make([][]byte, len(argv))
	start := 0
	for i, a := range argv {
		end := start + len(a)
		var mine []span
		for _, s := range spans {
			if s.end <= start || s.start >= end {
				continue
			}
			mine = append(mine, span{max(s.start, start) - start, min(s.end, end) - start})
		}
		if mine == nil {
			out[i] = a
		} else {
			out[i] = replace(a, mine)
		}
		start = end + 1
	}
	return out
}
