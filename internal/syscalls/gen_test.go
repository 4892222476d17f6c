package syscalls

import (
	"bytes"
	"os"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/syscalls/internal/gentable"
)

// TestGeneratedTablesUpToDate regenerates the syscall tables in memory and
// fails when the committed files differ: run go generate after changing
// the generator or bumping golang.org/x/sys.
func TestGeneratedTablesUpToDate(t *testing.T) {
	dir, err := gentable.XSysDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := gentable.GenerateAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(gentable.Tables) {
		t.Fatalf("generated %d files, want %d", len(files), len(gentable.Tables))
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("read committed table: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date; run go generate ./internal/syscalls", name)
		}
	}
}
