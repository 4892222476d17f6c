// Command gen writes the flightrec Grafana dashboards as JSON files:
//
//	go run ./dashboards/gen -out dashboards
//
// (go generate ./dashboards runs it in place). The files are committed; the
// tests of package dashboards fail when they differ from what gen writes.
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/flightrec/flightrec_exporter/dashboards/internal/build"
)

func main() {
	out := flag.String("out", ".", "directory to write the dashboards to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := build.Render()
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
