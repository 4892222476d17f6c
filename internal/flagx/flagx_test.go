package flagx

import (
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestValuesNameTheirFlag(t *testing.T) {
	app := kingpin.New("x", "")
	on := Bool(app.Flag("dump.enabled", ""), "dump.enabled", true)
	mode := Enum(app.Flag("dump.authz", ""), "dump.authz", "auto", "auto", "kubernetes", "none")
	if _, err := app.Parse(nil); err != nil || !*on || *mode != "auto" {
		t.Fatalf("defaults: %v %v %v", *on, *mode, err)
	}
	if _, err := app.Parse([]string{"--dump.enabled=false", "--dump.authz=none"}); err != nil || *on || *mode != "none" {
		t.Fatalf("set: %v %v %v", *on, *mode, err)
	}
	for args, want := range map[string]string{
		"--dump.enabled=maybe": `--dump.enabled "maybe": must be true or false`,
		"--dump.authz=rbac":    `--dump.authz "rbac": must be auto, kubernetes, none`,
	} {
		_, err := app.Parse([]string{args})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

func TestBytes(t *testing.T) {
	app := kingpin.New("x", "")
	budget := Bytes(app.Flag("recorder.memory-budget", ""), "recorder.memory-budget", "192MiB")
	if _, err := app.Parse(nil); err != nil || *budget != 192<<20 {
		t.Fatalf("default: %d %v, want %d", *budget, err, 192<<20)
	}
	if _, err := app.Parse([]string{"--recorder.memory-budget=1GiB"}); err != nil || *budget != 1<<30 {
		t.Fatalf("1GiB: %d %v", *budget, err)
	}
	for _, bad := range []string{"lots", "0MiB", "-5MiB"} {
		_, err := app.Parse([]string{"--recorder.memory-budget=" + bad})
		if want := `--recorder.memory-budget "` + bad + `": must be a positive size`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", bad, err, want)
		}
	}
}
