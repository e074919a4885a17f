package sensors

import (
	"embed"
	"fmt"

	"github.com/squall-automation/squall/embedfs"
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
		var err error
		if dir, err = embedfs.DefaultDir("sensor-shim"); err != nil {
			return fmt.Errorf("install sensor shim: %w", err)
		}
	}
	if err := embedfs.Install(pythonShim, shimRoot, dir); err != nil {
		return fmt.Errorf("install sensor shim in %s: %w", dir, err)
	}
	a.shimInstalled = dir
	return nil
}
