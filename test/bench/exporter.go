package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf/link"
)

// exporterProc is one running flightrec_exporter under test.
type exporterProc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	log    string // its log file
	exited chan struct{}
	err    error // from Wait, valid once exited is closed
	client *http.Client
}

// startExporter starts the exporter binary recording every cgroup below
// parent with the given extra flags, and waits until its /metrics says
// flightrec_recorder_up 1.
func startExporter(ctx context.Context, bin, parent, logDir string, extra []string) (*exporterProc, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the exporter binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		e, err := launchExporter(ctx, bin, parent, port, logDir, extra)
		if err != nil {
			return nil, err
		}
		if err = e.waitUp(ctx, 2*time.Minute); err == nil {
			return e, nil
		}
		lastErr = err
		_ = e.stop()
	}
	return nil, lastErr
}

func launchExporter(ctx context.Context, bin, parent string, port int, logDir string, extra []string) (*exporterProc, error) {
	args := append([]string{
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--recorder.cgroup-parent=" + parent,
	}, extra...)
	logPath := filepath.Join(logDir, fmt.Sprintf("exporter-%d.log", port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating exporter log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	e := &exporterProc{
		cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath,
		exited: make(chan struct{}), client: &http.Client{Timeout: 30 * time.Second},
	}
	go func() { e.err = cmd.Wait(); close(e.exited) }()
	return e, nil
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pid is the exporter's process id.
func (e *exporterProc) pid() int { return e.cmd.Process.Pid }

// waitUp polls /metrics until the recorder reports itself up.
func (e *exporterProc) waitUp(ctx context.Context, timeout time.Duration) error {
	err := pollUntil(ctx, timeout, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-e.exited:
			return false, fmt.Errorf("exporter exited (%v)", e.err)
		default:
		}
		m, err := e.metrics()
		if err != nil {
			return false, err
		}
		return m["flightrec_recorder_up"] == 1, nil
	}, "the exporter's flightrec_recorder_up 1")
	if err != nil {
		return fmt.Errorf("%w; log %s:\n%s", err, e.log, tail(e.log, 2000))
	}
	return nil
}

// stop ends the exporter (SIGTERM, then SIGKILL) and waits for it.
func (e *exporterProc) stop() error {
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	return fmt.Errorf("exporter PID %d ignored SIGTERM for 10s and was killed", e.pid())
}

// get fetches a path and returns its body; anything but 200 is an error.
func (e *exporterProc) get(path string) ([]byte, error) {
	resp, err := e.client.Get(e.base + path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{path: path, code: resp.StatusCode, body: string(b)}
	}
	return b, nil
}

// statusError is an HTTP answer other than 200.
type statusError struct {
	path string
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s: %.200s", e.path, e.code, http.StatusText(e.code), e.body)
}

// metrics scrapes /metrics into name → value for unlabelled series (the
// recorder's self-metrics are unlabelled).
func (e *exporterProc) metrics() (map[string]float64, error) {
	b, err := e.get("/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(b)), nil
}

// parseMetrics reads the samples of a Prometheus text exposition, keyed
// by name, or name{labels} as exposed for labelled ones.
func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(line, '}'); i > 0 {
			if v, err := strconv.ParseFloat(strings.Fields(line[i+1:])[0], 64); err == nil {
				out[line[:i+1]] = v
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// counters are the recorder's counters a micro run reads before and after.
type counters struct {
	records          float64 // flightrec_recorder_records_written_total
	kept, suppressed float64 // flightrec_recorder_incidents_total by outcome (0 before the first)
}

// counters scrapes /metrics once for the records written and the incidents.
func (e *exporterProc) counters() (counters, error) {
	b, err := e.get("/metrics")
	if err != nil {
		return counters{}, err
	}
	text := string(b)
	v, ok := parseMetrics(text)["flightrec_recorder_records_written_total"]
	if !ok {
		return counters{}, errors.New("/metrics has no flightrec_recorder_records_written_total")
	}
	return counters{
		records:    v,
		kept:       labelledValue(text, `flightrec_recorder_incidents_total{outcome="kept"}`),
		suppressed: labelledValue(text, `flightrec_recorder_incidents_total{outcome="suppressed"}`),
	}, nil
}

// labelledValue is the value of the sample written exactly as series
// (name and labels) in a Prometheus text exposition, 0 when absent.
func labelledValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				return v
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux architecture the recorder runs on).
const clockTicks = 100

// cpuTime is the exporter's utime+stime (all threads) from /proc/PID/stat.
func (e *exporterProc) cpuTime() (time.Duration, error) {
	return procCPU(e.pid())
}

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time of PID %d: %w", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces and parentheses
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no comm", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// linkIDs are the BPF links the exporter holds.
func (e *exporterProc) linkIDs() map[link.ID]bool {
	ids, _ := procLinkIDs(strconv.Itoa(e.pid()))
	return ids
}

// mapMemlock sums the memlock of the BPF maps the exporter holds fds to,
// from /proc/PID/fdinfo: the kernel memory of all its maps.
func (e *exporterProc) mapMemlock() (int64, int, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", e.pid())
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the exporter's fds: %w", err)
	}
	seen := map[string]bool{}
	var total int64
	for _, fd := range fds {
		b, err := os.ReadFile(filepath.Join(dir, fd.Name()))
		if err != nil || !strings.Contains(string(b), "map_type:") {
			continue
		}
		var id, memlock string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "map_id:"); ok {
				id = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "memlock:"); ok {
				memlock = strings.TrimSpace(v)
			}
		}
		if seen[id] || memlock == "" {
			continue
		}
		seen[id] = true
		n, err := strconv.ParseInt(memlock, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s/%s memlock: %w", dir, fd.Name(), err)
		}
		total += n
	}
	return total, len(seen), nil
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
