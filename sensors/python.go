package sensors

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// pythonShim is Squall's stand-in for the parts of StackStorm a Python
// sensor imports (st2reactor.sensor.base: Sensor, PollingSensor) plus the
// wrapper that loads a sensor class and speaks PROTOCOL.md for it.
// InstallShim writes it to Deps.ShimDir. (activities has its own shim for
// actions; the two share no files, so each is installed on its own.)
//
//go:embed python
var pythonShim embed.FS

const (
	shimRoot    = "python"
	shimWrapper = "squall_sensor_wrapper.py"
)

// InstallShim writes the Python wrapper to the shim directory (once per
// process). Files are replaced atomically, so workers sharing a directory
// never see a half-written file.
func (a *Activities) InstallShim() error {
	a.shimMu.Lock()
	defer a.shimMu.Unlock()
	if a.shimInstalled != "" {
		return nil
	}
	dir := a.deps.ShimDir
	if dir == "" {
		// Not a fixed name under /tmp: another local user could plant code
		// there that every sensor would import.
		base, err := os.UserCacheDir()
		if err == nil {
			dir = filepath.Join(base, "squall", "sensor-shim")
		} else if dir, err = os.MkdirTemp("", "squall-sensor-shim-"); err != nil {
			return fmt.Errorf("install sensor shim: %w", err)
		}
	}
	err := fs.WalkDir(pythonShim, shimRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(shimRoot, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := pythonShim.ReadFile(path)
		if err != nil {
			return err
		}
		if cur, err := os.ReadFile(target); err == nil && bytes.Equal(cur, data) {
			return nil
		}
		tmp, err := os.CreateTemp(filepath.Dir(target), ".shim-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(data)
		if werr == nil {
			werr = tmp.Chmod(0o644)
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return werr
		}
		return os.Rename(tmp.Name(), target)
	})
	if err != nil {
		return fmt.Errorf("install sensor shim in %s: %w", dir, err)
	}
	a.shimInstalled = dir
	return nil
}
