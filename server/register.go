package server

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/runner"
)

// registerRequest is st2's PacksRegister body.
type registerRequest struct {
	Packs         []string `json:"packs"`
	Types         []string `json:"types"`
	FailOnFailure *bool    `json:"fail_on_failure"`
}

// registerResponse counts what was registered, by content type, as st2's
// register endpoint does.
type registerResponse struct {
	Runners  int `json:"runners"`
	Actions  int `json:"actions"`
	Triggers int `json:"triggers"`
	Sensors  int `json:"sensors"`
	Rules    int `json:"rules"`
	Aliases  int `json:"aliases"`
	Policies int `json:"policies"`
	Configs  int `json:"configs"`
}

// packNameRE is what a pack given by name may look like: a directory name,
// never a path.
var packNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// registerPacks is POST /api/v1/packs/register. Every requested pack is
// loaded first; only if all of them load is any registered, so a typo in one
// pack never leaves a half-updated catalog. Each pack is stored in its own
// transaction (catalog.RegisterPack). Without "packs", every pack under the
// configured packs paths is registered.
func (s *Server) registerPacks(c echo.Context) error {
	var body registerRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if len(body.Types) > 0 && !slices.Contains(body.Types, "all") {
		// The catalog replaces a pack's content as a whole; registering only
		// some types would delete the others.
		return badRequest("Registering only some content types is not supported: omit \"types\" or pass [\"all\"].")
	}
	if body.FailOnFailure != nil && !*body.FailOnFailure {
		return badRequest("fail_on_failure=false is not supported: packs are registered all-or-nothing.")
	}
	opts := pack.LoadOptions{ConfigsDir: s.cfg.ConfigsDir}

	var loaded []*pack.Pack
	var failures []string
	if len(body.Packs) == 0 {
		if len(s.cfg.PacksPaths) == 0 {
			return badRequest("No packs given and no packs paths configured.")
		}
		for _, base := range s.cfg.PacksPaths {
			results, err := pack.LoadAll(base, opts)
			if err != nil {
				return badRequest("%v", err)
			}
			for _, r := range results {
				if r.Err != nil {
					failures = append(failures, describeLoadError(r.Dir, r.Err))
					continue
				}
				loaded = append(loaded, r.Pack)
			}
		}
	} else {
		seen := map[string]bool{}
		for _, entry := range body.Packs {
			dir, err := s.resolvePackDir(entry)
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			if seen[dir] {
				continue
			}
			seen[dir] = true
			p, err := pack.Load(dir, opts)
			if err != nil {
				failures = append(failures, describeLoadError(dir, err))
				continue
			}
			loaded = append(loaded, p)
		}
	}
	if len(failures) > 0 {
		return badRequest("Failed to register packs; nothing was registered.\n%s", strings.Join(failures, "\n"))
	}
	refs := map[string]string{}
	for _, p := range loaded {
		if other, dup := refs[p.Ref]; dup {
			return badRequest("Failed to register packs; nothing was registered.\npacks %s and %s have the same ref %q", other, p.Path, p.Ref)
		}
		refs[p.Ref] = p.Path
	}

	resp := registerResponse{Runners: len(runner.List())}
	ctx := c.Request().Context()
	for _, p := range loaded {
		res, err := s.catalog.RegisterPack(ctx, p)
		if err != nil {
			return fmt.Errorf("register pack %s from %s: %w", p.Ref, p.Path, err)
		}
		resp.Actions += res.Actions
		resp.Triggers += res.TriggerTypes
		resp.Sensors += res.Sensors
		resp.Rules += res.Rules
		resp.Aliases += res.Aliases
		resp.Policies += res.Policies
		if len(p.Config) > 0 {
			resp.Configs++
		}
		s.log.Info("pack registered", "pack", p.Ref, "path", p.Path, "actions", res.Actions, "rules", res.Rules,
			"sensors", res.Sensors, "trigger_types", res.TriggerTypes, "by", requester(c))
	}
	return c.JSON(http.StatusOK, resp)
}

// resolvePackDir turns a register entry into a pack directory: an absolute
// path is used as given; a bare name is looked up under the packs paths, in
// order, as st2 searches packs_base_paths.
func (s *Server) resolvePackDir(entry string) (string, error) {
	if filepath.IsAbs(entry) {
		dir := filepath.Clean(entry)
		fi, err := os.Stat(dir)
		if err != nil {
			return "", fmt.Errorf("%s: %v", dir, unwrapPathError(err))
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%s: not a directory", dir)
		}
		return dir, nil
	}
	if !packNameRE.MatchString(entry) {
		return "", fmt.Errorf("%q: a pack is given by name or by absolute directory", entry)
	}
	for _, base := range s.cfg.PacksPaths {
		dir := filepath.Join(base, entry)
		if fi, err := os.Stat(filepath.Join(dir, pack.PackFile)); err == nil && !fi.IsDir() {
			return dir, nil
		}
	}
	if len(s.cfg.PacksPaths) == 0 {
		return "", fmt.Errorf("pack %q: no packs paths are configured; give an absolute directory", entry)
	}
	return "", fmt.Errorf("pack %q: not found in packs paths %s", entry, strings.Join(s.cfg.PacksPaths, ", "))
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describeLoadError lists every problem of one pack, one "file:line: msg"
// per line, prefixed by the pack directory.
func describeLoadError(dir string, err error) string {
	var le *pack.LoadError
	if !errors.As(err, &le) {
		return fmt.Sprintf("%s: %v", dir, err)
	}
	lines := make([]string, 0, len(le.Problems))
	for _, p := range le.Problems {
		lines = append(lines, dir+": "+p.String())
	}
	return strings.Join(lines, "\n")
}
