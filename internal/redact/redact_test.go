package redact

import (
	"bytes"
	"strings"
	"testing"
)

func builtin(t *testing.T) *Redactor {
	t.Helper()
	r, err := New([]string{Builtin})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBytes(t *testing.T) {
	r := builtin(t)
	for _, c := range []struct{ in, want string }{
		{"exec tool --password=hunter2 --verbose", "exec tool --password=[redacted] --verbose"},
		{"exec tool --password hunter2 -v", "exec tool --password [redacted] -v"},
		{"mysql -u root -p s3cr3t db", "mysql -u root -p [redacted] db"},
		{"app --db-password=x1 --api-key y2 --token=z3", "app --db-password=[redacted] --api-key [redacted] --token=[redacted]"},
		{"env MYSQL_ROOT_PASSWORD=pw1 API_KEY=k2 HOME=/root ./run", "env MYSQL_ROOT_PASSWORD=[redacted] API_KEY=[redacted] HOME=/root ./run"},
		{"GET /login?user=bob&password=pw&x=1 HTTP/1.1", "GET /login?user=bob&password=[redacted]&x=1 HTTP/1.1"},
		{"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc.def\r\nAccept: */*\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer [redacted]\r\nAccept: */*\r\n"},
		{"Authorization: Basic dXNlcjpwdw==", "Authorization: Basic [redacted]"},
		{"POST / HTTP/1.1\r\ncookie: session=42; theme=dark\r\n", "POST / HTTP/1.1\r\ncookie: [redacted]\r\n"},
		// Cut off by the capture size: what is there is still hidden.
		{"HTTP/1.1\r\nAuthorization: Bear", "HTTP/1.1\r\nAuthorization: [redacted]"},
		// Nothing secret: unchanged.
		{"/usr/bin/ls -la --color=auto PWD=/root", "/usr/bin/ls -la --color=auto PWD=/root"},
		{"Host: example.com\r\nContent-Type: text/plain", "Host: example.com\r\nContent-Type: text/plain"},
	} {
		if got := string(r.Bytes([]byte(c.in))); got != c.want {
			t.Errorf("Bytes(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestBytesDoesNotModifyItsInput(t *testing.T) {
	in := []byte("--password=hunter2")
	orig := bytes.Clone(in)
	if got := builtin(t).Bytes(in); string(got) != "--password=[redacted]" || !bytes.Equal(in, orig) {
		t.Errorf("got %q, input now %q", got, in)
	}
}

func TestArgv(t *testing.T) {
	r := builtin(t)
	for _, c := range []struct{ in, want []string }{
		{[]string{"sh", "-c", "exec tool --password=hunter2"}, []string{"sh", "-c", "exec tool --password=[redacted]"}},
		// The value in the next argument.
		{[]string{"tool", "--password", "hunter2", "--port", "80"}, []string{"tool", "--password", "[redacted]", "--port", "80"}},
		{[]string{"mysql", "-p", "pw", "db"}, []string{"mysql", "-p", "[redacted]", "db"}},
		// A value with spaces inside one argument: only up to the space.
		{[]string{"tool", "--token=abc def"}, []string{"tool", "--token=[redacted] def"}},
		{[]string{"env", "GITHUB_TOKEN=ghp_x", "make"}, []string{"env", "GITHUB_TOKEN=[redacted]", "make"}},
		{[]string{"ls", "-l"}, []string{"ls", "-l"}},
	} {
		in := make([][]byte, len(c.in))
		for i, a := range c.in {
			in[i] = []byte(a)
		}
		got := r.Argv(in)
		var gs []string
		for _, a := range got {
			gs = append(gs, string(a))
		}
		if strings.Join(gs, "\x00") != strings.Join(c.want, "\x00") {
			t.Errorf("Argv(%q) = %q, want %q", c.in, gs, c.want)
		}
		for i, a := range in {
			if string(a) != c.in[i] {
				t.Errorf("Argv modified its input: %q", a)
			}
		}
	}
}

func TestCustomPatterns(t *testing.T) {
	r, err := New([]string{`sk-[A-Za-z0-9]+`, `pin (\d+)`})
	if err != nil {
		t.Fatal(err)
	}
	in := "key sk-abc123 pin 4711 --password=kept"
	want := "key [redacted] pin [redacted] --password=kept" // builtins not included
	if got := string(r.Bytes([]byte(in))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r, err = New([]string{Builtin, `sk-[A-Za-z0-9]+`})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(r.Bytes([]byte(in))); got != "key [redacted] pin 4711 --password=[redacted]" {
		t.Errorf("builtin plus custom: %q", got)
	}
}

func TestBadPatterns(t *testing.T) {
	for _, p := range []string{`(unclosed`, `x*`} {
		if _, err := New([]string{p}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("New(%q): %v, want an error naming the pattern", p, err)
		}
	}
}

func TestNilRedactsNothing(t *testing.T) {
	r, err := New(nil)
	if err != nil || r != nil {
		t.Fatalf("New(nil) = %v, %v", r, err)
	}
	if got := r.Bytes([]byte("--password=x")); string(got) != "--password=x" {
		t.Errorf("nil redactor changed %q", got)
	}
	argv := [][]byte{[]byte("--token"), []byte("x")}
	if got := r.Argv(argv); string(got[1]) != "x" {
		t.Errorf("nil redactor changed argv: %q", got)
	}
}

func TestHeadersInArguments(t *testing.T) {
	got := builtin(t).Argv([][]byte{[]byte("curl"), []byte("-H"), []byte("Authorization: Bearer abc"), []byte("https://api")})
	if string(got[2]) != "Authorization: Bearer [redacted]" || string(got[3]) != "https://api" {
		t.Errorf("curl -H: %q", got)
	}
}

// FuzzArgv checks that no argument vector makes Argv panic, that the
// number of arguments is kept, and that a secret given as --password=VALUE
// never survives.
func FuzzArgv(f *testing.F) {
	f.Add("tool\x00--password\x00x", "hunter2")
	f.Add("\x00\x00", "a b")
	f.Add("curl\x00-H\x00Authorization: Bearer", "tok")
	r, err := New([]string{Builtin})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, args, secret string) {
		var argv [][]byte
		for _, a := range strings.Split(args, "\x00") {
			argv = append(argv, []byte(a))
		}
		secret = strings.Map(func(c rune) rune {
			if c <= ' ' || c == '"' || c == '\'' || c > 126 {
				return -1
			}
			return c
		}, secret)
		if secret == "" {
			return
		}
		argv = append(argv, []byte("--password="+secret))
		got := r.Argv(argv)
		if len(got) != len(argv) {
			t.Fatalf("%d arguments in, %d out", len(argv), len(got))
		}
		if last := string(got[len(got)-1]); strings.Contains(last, secret) && !strings.Contains(Mark, secret) && !strings.Contains("--password=", secret) {
			t.Fatalf("secret %q survives in %q", secret, last)
		}
	})
}
