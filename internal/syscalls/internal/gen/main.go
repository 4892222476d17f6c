// Command gen writes the syscall-number tables of package syscalls from the
// golang.org/x/sys/unix sources required by go.mod.
//
// Run it through go generate in internal/syscalls.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flightrec/flightrec_exporter/internal/syscalls/internal/gentable"
)

func main() {
	outDir := flag.String("o", ".", "directory to write the tables to")
	flag.Parse()
	if err := run(*outDir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(outDir string) error {
	dir, err := gentable.XSysDir()
	if err != nil {
		return err
	}
	files, err := gentable.GenerateAll(dir)
	if err != nil {
		return err
	}
	for name, code := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), code, 0o644); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	return nil
}
