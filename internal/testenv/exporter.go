package testenv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Exporter is a flightrec_exporter process started by a test.
type Exporter struct {
	URL  string // http://127.0.0.1:PORT
	Addr string

	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}

	client     *http.Client
	scheme     string
	user, pass string
	noWait     bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreePort returns a loopback address with a port nobody listens on now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartExporter builds and starts the exporter with args (a listen address
// is added unless given), waits until its recorder is loaded, and stops it
// when the test ends.
func StartExporter(t testing.TB, args ...string) *Exporter {
	t.Helper()
	return StartExporterIn(t, nil, args...)
}

// StartExporterIn is StartExporter with the exporter run by wrapper (a
// command that ends by exec'ing its arguments, like unshare), or directly
// when wrapper is empty.
func StartExporterIn(t testing.TB, wrapper []string, args ...string) *Exporter {
	t.Helper()
	return (&Exporter{}).start(t, wrapper, args...)
}

// LaunchExporter starts the exporter like StartExporter but returns at
// once, before it is ready: for tests of what it does while starting. Call
// WaitReady to wait for it.
func LaunchExporter(t testing.TB, args ...string) *Exporter {
	t.Helper()
	return (&Exporter{noWait: true}).start(t, nil, args...)
}

func (e *Exporter) start(t testing.TB, wrapper []string, args ...string) *Exporter {
	t.Helper()
	RequireRoot(t)
	bin := Build(t, "./cmd/flightrec_exporter")
	e.log, e.done = &lockedBuffer{}, make(chan struct{})
	if e.client == nil {
		e.client, e.scheme = http.DefaultClient, "http"
	}
	hasAddr, hasPin := false, false
	for _, a := range args {
		hasPin = hasPin || strings.HasPrefix(a, "--bpf.pin-path=")
		if strings.HasPrefix(a, "--web.listen-address=") {
			hasAddr = true
			e.Addr = strings.TrimPrefix(a, "--web.listen-address=")
		}
	}
	if !hasAddr {
		e.Addr = FreePort(t)
		args = append(args, "--web.listen-address="+e.Addr)
	}
	if !hasPin {
		// Tests run side by side: none may pick up another's pinned maps.
		args = append(args, "--bpf.pin-path=")
	}
	e.URL = e.scheme + "://" + e.Addr
	argv := append(append(append([]string(nil), wrapper...), bin), args...)
	e.cmd = exec.Command(argv[0], argv[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("starting exporter: %v", err)
	}
	go func() { _ = e.cmd.Wait(); close(e.done) }()
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.log.String())
		}
	})
	if !e.noWait {
		e.WaitReady(t)
	}
	return e
}

// StartExporterTLS starts an exporter served over TLS with basic auth
// (its args name the web config) and waits until an authenticated scrape
// through pool works.
func StartExporterTLS(t testing.TB, pool *x509.CertPool, user, pass string, args ...string) *Exporter {
	t.Helper()
	e := &Exporter{}
	e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	e.user, e.pass, e.scheme = user, pass, "https"
	return e.start(t, nil, args...)
}

// WaitReady polls /metrics until the recorder reports itself up.
func (e *Exporter) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			t.Fatalf("exporter exited before it was ready:\n%s", e.log.String())
		default:
		}
		if code, body, err := e.get("/metrics"); err == nil && code == 200 && strings.Contains(body, "flightrec_recorder_up 1") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("exporter not ready after 60s:\n%s", e.log.String())
}

func (e *Exporter) get(path string, header ...string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, e.URL+path, nil)
	if err != nil {
		return 0, "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if e.user != "" {
		req.SetBasicAuth(e.user, e.pass)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Get fetches path, with optional header name/value pairs, and returns the
// status code and body.
func (e *Exporter) Get(t testing.TB, path string, header ...string) (int, string) {
	t.Helper()
	code, body, err := e.get(path, header...)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return code, body
}

// MustGet fetches path and fails the test unless it answers 200.
func (e *Exporter) MustGet(t testing.TB, path string) string {
	t.Helper()
	code, body := e.Get(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, code, body)
	}
	return body
}

// Log is what the exporter has printed so far.
func (e *Exporter) Log() string { return e.log.String() }

// Done is closed when the exporter process has exited.
func (e *Exporter) Done() <-chan struct{} { return e.done }

// PID is the exporter's process id.
func (e *Exporter) PID() int { return e.cmd.Process.Pid }

// Stop ends the exporter with SIGTERM (SIGKILL after 10s) and waits for it.
func (e *Exporter) Stop() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// Kill ends the exporter with SIGKILL, as a crash or OOM kill would.
func (e *Exporter) Kill() {
	_ = e.cmd.Process.Kill()
	<-e.done
}

// String names the exporter for messages.
func (e *Exporter) String() string {
	return fmt.Sprintf("exporter pid %d at %s", e.cmd.Process.Pid, e.URL)
}

// RunExporterToExit runs the exporter (through wrapper, if any) expecting it
// to fail: it returns the exit code and what it printed. It fails the test if
// the exporter is still running after 60s.
func RunExporterToExit(t testing.TB, wrapper []string, cred *syscall.Credential, args ...string) (int, string) {
	t.Helper()
	bin := Build(t, "./cmd/flightrec_exporter")
	argv := append(append(append([]string(nil), wrapper...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting exporter: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("exporter still running after 60s:\n%s", out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// Unshared wraps a command in a private mount namespace after running setup
// (shell commands, e.g. mounts that hide a kernel interface).
func Unshared(setup string) []string {
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", setup + ` && exec "$0" "$@"`}
}
