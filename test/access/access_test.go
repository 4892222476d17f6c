// Package access_test checks who can read the exporter: TLS and basic auth
// from --web.config.file protect /dump as well as /metrics, and
// --recorder.capture-bytes=0 keeps buffer bytes out of the kernel's records,
// and the --dump.* flags limit who sees which namespace. Needs root.
package access_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/flightrec/flightrec_exporter/bpf"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flightrec test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func get(t *testing.T, client *http.Client, url, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTLSAndBasicAuthProtectDumpAndMetrics(t *testing.T) {
	cg := testenv.NewCgroups(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	config := webConfig(t, dir, certFile, keyFile)
	addr := testenv.FreePort(t)
	// The exporter is ready when an authenticated TLS scrape works; StartExporter polls plain HTTP.
	e := testenv.StartExporterTLS(t, pool, "sre", "s3cret", "--recorder.cgroup-parent="+cg.Parent,
		"--web.listen-address="+addr, "--web.config.file="+config)
	c := cg.Make(t, "/app.scope")
	if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	base := "https://" + addr
	for _, path := range []string{"/dump?cgroup=" + url.QueryEscape(c), "/metrics", "/dump"} {
		if code, _ := get(t, tlsClient, base+path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, code)
		}
		if code, _ := get(t, tlsClient, base+path, "sre", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", path, code)
		}
		if code, _ := get(t, tlsClient, base+path, "intruder", "s3cret"); code != http.StatusUnauthorized {
			t.Errorf("%s with an unknown user: %d, want 401", path, code)
		}
		code, body := get(t, tlsClient, base+path, "sre", "s3cret")
		if code != 200 {
			t.Errorf("%s with the right credentials: %d %q", path, code, body)
		}
		if strings.HasPrefix(path, "/dump?") && !strings.Contains(body, "execve") {
			t.Errorf("authenticated dump lacks the recorded execve:\n%s", body)
		}
	}
	// TLS only: plain HTTP gets nothing useful.
	plain := &http.Client{Timeout: 5 * time.Second}
	if code, body := get(t, plain, "http://"+addr+"/dump?cgroup="+url.QueryEscape(c), "sre", "s3cret"); code == 200 {
		t.Errorf("plain HTTP answered 200: %.200s", body)
	}
	_ = e
}

func TestCaptureBytesZeroKeepsBuffersInTheKernel(t *testing.T) {
	cg := testenv.NewCgroups(t)
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("flightrec-secret-payload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	workload := testenv.Build(t, "./test/workload")
	// A private bpffs: the records map is pinned there and read back raw.
	fs := t.TempDir()
	if err := syscall.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(fs, syscall.MNT_DETACH) })
	for _, c := range []struct {
		capture string
		visible bool
	}{{"64", true}, {"0", false}} {
		pins := filepath.Join(fs, "capture-"+c.capture)
		e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--recorder.capture-bytes="+c.capture,
			"--bpf.pin-path="+pins, "--recorder.max-containers=4")
		app := cg.Make(t, "/app-"+c.capture+".scope")
		if out, code := cg.Run(t, app, nil, workload, "write-pattern", "50"); code != 0 {
			t.Fatalf("workload: %s", out)
		}
		// cat reads the secret (read buffer) and writes it (write buffer).
		if out, code := cg.Run(t, app, nil, "/bin/sh", "-c", "cat "+secretFile+" > /dev/null"); code != 0 {
			t.Fatalf("sh: %s", out)
		}
		body := e.MustGet(t, "/dump?format=json&cgroup="+url.QueryEscape(app))
		for _, secret := range []string{"flightrec-49", "flightrec-secret-payload"} {
			if got := strings.Contains(body, secret); got != c.visible {
				t.Errorf("capture-bytes=%s: buffer bytes %s in the dump: %v, want %v", c.capture, secret, got, c.visible)
			}
		}
		if writes := strings.Count(body, `"syscall": "write"`); writes < 50 {
			t.Fatalf("capture-bytes=%s: only %d writes recorded", c.capture, writes)
		}
		// Paths are recorded either way: only buffers are off.
		if !strings.Contains(body, secretFile) {
			t.Errorf("capture-bytes=%s: the path %s is missing", c.capture, secretFile)
		}
		// What the kernel copied: the raw records in the map, read in this
		// process, not what /dump chose to show.
		raw, err := bpf.ReadPinnedRecords(pins)
		if err != nil {
			t.Fatal(err)
		}
		writes, withBytes, dirty := 0, 0, 0
		for _, r := range raw {
			if r.ParseErr != nil || r.Record.Comm != "workload" || r.Record.Nr != syscall.SYS_WRITE || r.Record.Args[2] == 0 {
				continue
			}
			writes++
			if bytes.Contains(r.Payload, []byte("flightrec-")) || len(r.Record.Buf) > 0 {
				withBytes++
			}
			if !c.visible && !bytes.Equal(r.Payload, make([]byte, len(r.Payload))) {
				if dirty++; dirty == 1 {
					t.Errorf("capture-bytes=0: write record %d holds payload bytes in kernel memory: %q", r.Record.Seq, bytes.TrimRight(r.Payload, "\x00"))
				}
			}
		}
		if writes < 50 {
			t.Fatalf("capture-bytes=%s: %d write records of the workload in the records map, want ≥ 50", c.capture, writes)
		}
		if c.visible && withBytes != writes {
			t.Errorf("capture-bytes=%s: only %d of %d write records hold their buffer in kernel memory", c.capture, withBytes, writes)
		}
		if !c.visible && (withBytes != 0 || dirty != 0) {
			t.Errorf("capture-bytes=0: %d of %d write records hold buffer bytes, %d have a non-zero payload area", withBytes, writes, dirty)
		}
		e.Stop()
	}
}

func TestDumpDisabledAndPlainCgroupsUnderAnAllowList(t *testing.T) {
	cg := testenv.NewCgroups(t)
	container := cg.Make(t, testenv.KubeletPath("besteffort", testenv.RandomUID(), testenv.RandomHex(32)))
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--dump.enabled=false")
	e2 := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--dump.namespaces=team-a")
	if _, code := cg.Run(t, container, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	for _, path := range []string{"/dump", "/dump?cgroup=" + url.QueryEscape(container)} {
		if code, _ := e.Get(t, path); code != 404 {
			t.Errorf("--dump.enabled=false: %s answered %d, want 404", path, code)
		}
	}
	if strings.Contains(e.MustGet(t, "/"), `href="/dump"`) {
		t.Error("landing page links to a disabled /dump")
	}
	e.MustGet(t, "/metrics")

	// A plain cgroup has no namespace: an allow list refuses it (the
	// Kubernetes-mode test checks the namespaces it admits).
	code, body := e2.Get(t, "/dump?cgroup="+url.QueryEscape(container))
	if code != 403 || !strings.Contains(body, "not allowed") {
		t.Errorf("--dump.namespaces=team-a, plain cgroup: %d %q, want 403", code, body)
	}
	if strings.Contains(e2.MustGet(t, "/dump"), container) {
		t.Error("the index lists a ring that cannot be dumped")
	}
}

func TestDumpsRedactSecrets(t *testing.T) {
	cg := testenv.NewCgroups(t)
	// The argv capture is 80 bytes: the workload is "w" on the PATH, so that
	// sh's command line fits.
	bin := t.TempDir()
	if err := os.Symlink(testenv.Build(t, "./test/workload"), filepath.Join(bin, "w")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	script := "exec w socket-write --password=hunter2 --verbose 'Authorization: Bearer abc'"
	for _, c := range []struct {
		redaction string
		hidden    bool
	}{{"true", true}, {"false", false}} { // false: the positive control
		e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--dump.redaction="+c.redaction)
		app := cg.Make(t, "/redact-"+c.redaction+".scope")
		if out, code := cg.Run(t, app, nil, "/bin/sh", "-c", script); code != 0 {
			t.Fatalf("workload: %s", out)
		}
		for _, format := range []string{"text", "json"} {
			body := e.MustGet(t, "/dump?format="+format+"&cgroup="+url.QueryEscape(app))
			// The rest of each line stays: the command, the flag, the header name.
			for _, kept := range []string{"socket-write", "--password=", "--verbose", "Authorization: Bearer "} {
				if !strings.Contains(body, kept) {
					t.Errorf("redaction=%s %s: %q missing from the dump:\n%s", c.redaction, format, kept, body)
				}
			}
			for _, secret := range []string{"hunter2", "Bearer abc"} {
				if got := strings.Contains(body, secret); got == c.hidden {
					t.Errorf("redaction=%s %s: %q in the dump: %v", c.redaction, format, secret, got)
				}
			}
			if c.hidden && strings.Count(body, "--password=[redacted]") < 2 {
				// sh's execve and the workload's execve
				t.Errorf("redaction=%s %s: want --password=[redacted] in both execve calls:\n%s", c.redaction, format, body)
			}
		}
		e.Stop()
	}
}

// webConfig writes an exporter-toolkit web config in dir: TLS with the
// given certificate, and basic auth for user sre with password s3cret.
func webConfig(t *testing.T, dir, certFile, keyFile string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  sre: %s\n",
		certFile, keyFile, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}
