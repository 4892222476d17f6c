// Command testsummary runs `go test -json` with its arguments, prints what
// plain `go test` would (package results, and the output of failed tests),
// and ends with one line naming the tests that skipped and why, so that a
// skip is never silent. It exits with go test's status.
//
//	go run ./internal/testsummary -count=1 ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// event is one line of test2json output.
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
	Elapsed    float64
}

// skip is a group of tests of one package skipped for one reason.
type skip struct {
	pkg, reason string
	tests       []string
}

// summary collects the outcome of a go test -json stream.
type summary struct {
	out     io.Writer
	module  string
	outputs map[string][]string // package + "\x00" + test → output lines
	skips   map[string]*skip    // package + "\x00" + reason
	failed  int
}

func newSummary(out io.Writer, module string) *summary {
	return &summary{out: out, module: module, outputs: map[string][]string{}, skips: map[string]*skip{}}
}

func (s *summary) event(e event) {
	key := e.Package + "\x00" + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(s.out, e.Output)
	case e.Test == "" && e.Action == "output":
		// Package-level lines: "ok  pkg 1.2s", "FAIL pkg", panics.
		if o := strings.TrimSpace(e.Output); o != "PASS" && o != "FAIL" {
			fmt.Fprint(s.out, e.Output)
		}
	case e.Test == "":
	case e.Action == "output":
		s.outputs[key] = append(s.outputs[key], e.Output)
	case e.Action == "fail":
		s.failed++
		for _, l := range s.outputs[key] {
			fmt.Fprint(s.out, l)
		}
		delete(s.outputs, key)
	case e.Action == "skip":
		s.addSkip(e.Package, e.Test, skipReason(s.outputs[key]))
		delete(s.outputs, key)
	case e.Action == "pass":
		delete(s.outputs, key)
	}
}

// skipReason is the message a test gave t.Skip: the last logged message
// before its "--- SKIP" line, without the file:line prefix.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "--- SKIP"):
			if len(msg) > 0 {
				return strings.Join(msg, " ")
			}
		case strings.HasPrefix(t, "=== "), t == "":
		case isLogLine(t):
			_, m, _ := strings.Cut(t, ": ")
			msg = []string{m}
		default: // a continuation line of a multi-line message
			msg = append(msg, t)
		}
	}
	if len(msg) > 0 {
		return strings.Join(msg, " ")
	}
	return "no reason given"
}

// isLogLine reports whether t starts like "name_test.go:12: ".
func isLogLine(t string) bool {
	i := strings.Index(t, ".go:")
	if i <= 0 || strings.ContainsAny(t[:i], " \t") {
		return false
	}
	j := strings.Index(t[i:], ": ")
	return j > len(".go:")
}

func (s *summary) addSkip(pkg, test, reason string) {
	pkg = strings.TrimPrefix(strings.TrimPrefix(pkg, s.module), "/")
	k := pkg + "\x00" + reason
	g, ok := s.skips[k]
	if !ok {
		g = &skip{pkg: pkg, reason: reason}
		s.skips[k] = g
	}
	g.tests = append(g.tests, test)
}

// line is the closing summary of skipped tests.
func (s *summary) line() string {
	if len(s.skips) == 0 {
		return "skipped: none"
	}
	var groups []*skip
	n := 0
	for _, g := range s.skips {
		groups = append(groups, g)
		n += len(g.tests)
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].pkg != groups[j].pkg {
			return groups[i].pkg < groups[j].pkg
		}
		return groups[i].reason < groups[j].reason
	})
	var parts []string
	for _, g := range groups {
		what := g.tests[0]
		if len(g.tests) > 1 {
			what = fmt.Sprintf("%d tests", len(g.tests))
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", g.pkg, what, g.reason))
	}
	return fmt.Sprintf("skipped %d: %s", n, strings.Join(parts, "; "))
}

func modulePath() string {
	out, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func run(args []string) (int, error) {
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 1, fmt.Errorf("go test: %w", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("starting go test: %w", err)
	}
	s := newSummary(os.Stdout, modulePath())
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Println(sc.Text()) // not test2json: pass it on
			continue
		}
		s.event(e)
	}
	scanErr := sc.Err()
	err = cmd.Wait()
	fmt.Printf("%d tests failed; %s (%s)\n", s.failed, s.line(), time.Since(start).Round(time.Second))
	if scanErr != nil {
		return 1, fmt.Errorf("reading go test output: %w", scanErr)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("go test: %w", err)
	}
	return 0, nil
}

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
	}
	os.Exit(code)
}
