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
