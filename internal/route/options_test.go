package route

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Over https a peer's certificate is always verified: a forwarded request
// carries the caller's credentials.
func TestPeerTLSFailsClosed(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	https := "https"
	for _, c := range []struct {
		name       string
		caFile     string
		serverName string
		fail       string
	}{
		{name: "no CA: the system's roots do not know the peer", fail: "certificate"},
		{name: "the CA, for the peer's address", caFile: ca},
		{name: "the CA, for the name in every exporter's certificate", caFile: ca, serverName: "example.com"},
		{name: "the CA, for a name the certificate lacks", caFile: ca, serverName: "flightrec.monitoring.svc", fail: "certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := &Options{Scheme: &https, CAFile: c.caFile, ServerName: c.serverName}
			client, err := o.Client()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case c.fail == "" && err != nil:
				t.Errorf("verified peer refused: %v", err)
			case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
				t.Errorf("unverified peer: err %v, want one about the %s", err, c.fail)
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "bad.crt")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Options{Scheme: &https, CAFile: bad}).Validate(); err == nil || !strings.Contains(err.Error(), "--dump.peer-ca-file") {
		t.Errorf("a CA file without certificates: %v", err)
	}
}
