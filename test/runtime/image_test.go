package runtime_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"time"
)

// The images the tests run, built from the host's static busybox: there is
// no registry to pull from.
const (
	appImage   = "flightrec.test/busybox:1"
	pauseImage = "flightrec.test/pause:1"
)

// busyboxApplets are the commands the images offer, as symlinks to
// /bin/busybox.
var busyboxApplets = []string{"sh", "sleep", "cat", "true", "false", "echo", "ls"}

// staticBusybox checks that path is a statically linked executable (the
// busybox-static package's, not the dynamic busybox package's), which can
// run alone in an image without a libc.
func staticBusybox(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static", path)
		}
	}
	return nil
}

// busyboxLayer is an uncompressed layer tar of a minimal root file system:
// /bin/busybox, its applets as symlinks, and the directories a runtime
// mounts over.
func busyboxLayer(busybox string) ([]byte, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("reading busybox: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, dir := range []string{"bin", "dev", "etc", "proc", "run", "sys", "tmp", "var"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mtime}); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mtime}); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	for _, a := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// imageConfig is the part of an OCI/Docker image configuration the
// runtime reads.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint []string `json:"Entrypoint,omitempty"`
		Cmd        []string `json:"Cmd,omitempty"`
		Env        []string `json:"Env,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// manifestEntry is one image of a docker-archive's manifest.json.
type manifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// writeDockerArchive writes to path a docker-archive (what `docker save`
// writes and `ctr images import` reads) of one image named tag: layer as
// its only layer, entrypoint as its entrypoint.
func writeDockerArchive(path, tag string, layer []byte, entrypoint []string) error {
	sum := sha256.Sum256(layer)
	var cfg imageConfig
	cfg.Architecture, cfg.OS = goruntime.GOARCH, "linux"
	cfg.Config.Entrypoint = entrypoint
	cfg.Config.Env = []string{"PATH=/bin"}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{"sha256:" + hex.EncodeToString(sum[:])}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]manifestEntry{{Config: cfgName, RepoTags: []string{tag}, Layers: []string{"layer.tar"}}})
	if err != nil {
		return fmt.Errorf("image manifest: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"layer.tar", layer}, {cfgName, cfgJSON}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// buildImages writes the archives of the app and pause images into dir and
// returns their paths.
func buildImages(dir, busybox string) ([]string, error) {
	if err := staticBusybox(busybox); err != nil {
		return nil, err
	}
	layer, err := busyboxLayer(busybox)
	if err != nil {
		return nil, err
	}
	images := []struct {
		tag        string
		entrypoint []string
	}{
		{appImage, []string{"/bin/sh"}},
		{pauseImage, []string{"/bin/sleep", "2147483647"}},
	}
	var paths []string
	for i, img := range images {
		p := filepath.Join(dir, fmt.Sprintf("image-%d.tar", i))
		if err := writeDockerArchive(p, img.tag, layer, img.entrypoint); err != nil {
			return nil, fmt.Errorf("image %s: %w", img.tag, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
