// Package localpg runs a private Postgres cluster under a directory, for `make run`, `squall up`
// and tests: it creates the cluster with initdb the first time, starts it with pg_ctl on
// 127.0.0.1 and a socket inside the directory, and stops it again. A postmaster that is already
// running on the same data directory is reused. When the process runs as root, initdb and the
// server run as the `postgres` system user, because Postgres refuses to run as root.
package localpg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the name of the cluster's superuser. It is fixed rather than the current OS user
// so that URLs do not depend on who started the cluster.
const Superuser = "postgres"

// DefaultPort is used when Options.Port is zero. It is not 5432 so that a private cluster does
// not collide with a system-wide Postgres.
const DefaultPort = 55433

// confFile is included from postgresql.conf and rewritten on every start, so that the port
// and directories always match the Options without touching the operator's own settings.
const confFile = "squall-localpg.conf"

// Options configures a cluster.
type Options struct {
	// Dir holds everything: the data directory (Dir/data), the server log (Dir/postgres.log)
	// and the Unix socket. Required. Created when missing. When running as root, Dir and
	// Dir/data are handed to the postgres user and Dir's ancestors made traversable (o+x).
	Dir string
	// Port is the TCP port on 127.0.0.1 (and the socket's number). Zero means DefaultPort.
	Port int
	// BinDir holds initdb, pg_ctl and postgres. Empty means auto-detect: the newest
	// /usr/lib/postgresql/<version>/bin, then `pg_config --bindir`, then PATH.
	BinDir string
	// Logger receives progress messages. Nil means slog.Default().
	Logger *slog.Logger
}

// Cluster is a running (started or reused) Postgres cluster.
type Cluster struct {
	dir     string
	dataDir string
	port    int
	binDir  string
	log     *slog.Logger
	runAs   *syscall.Credential // nil: run as the current user
	reused  bool
}

func (o *Options) validate() error {
	if o.Dir == "" {
		return errors.New("localpg: Dir is required")
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("localpg: port %d out of range 1-65535", o.Port)
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("localpg: resolve %q: %w", o.Dir, err)
	}
	o.Dir = abs
	// A Unix socket path is limited to 107 bytes on Linux; postgres would only say so in its
	// log, after pg_ctl has already given up.
	if sock := filepath.Join(o.Dir, ".s.PGSQL."+strconv.Itoa(o.Port)); len(sock) > 107 {
		return fmt.Errorf("localpg: socket path %s is longer than 107 bytes: use a shorter Dir", sock)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Start creates the cluster under opts.Dir if needed and starts it, or reuses a postmaster that
// is already running on that data directory.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:     opts.Dir,
		dataDir: filepath.Join(opts.Dir, "data"),
		port:    opts.Port,
		binDir:  binDir,
		log:     opts.Logger.With("component", "localpg", "dir", opts.Dir),
	}
	if os.Geteuid() == 0 {
		if c.runAs, err = postgresCredential(); err != nil {
			return nil, err
		}
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}

	initialized, err := c.initialized()
	if err != nil {
		return nil, err
	}
	if !initialized {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	} else if err := c.checkVersion(ctx); err != nil {
		return nil, err
	}

	running, err := c.running(ctx)
	if err != nil {
		return nil, err
	}
	if running {
		if err := c.adoptRunning(ctx); err != nil {
			return nil, err
		}
		return c, nil
	}
	if err := c.writeConf(); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// URL returns a connection URL for database db as the superuser over TCP (trust auth).
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     "127.0.0.1:" + strconv.Itoa(c.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the cluster listens on (that of a reused postmaster if it differs
// from Options.Port).
func (c *Cluster) Port() int { return c.port }

// Dir returns the cluster's directory; its Unix socket lives there.
func (c *Cluster) Dir() string { return c.dir }

// Reused reports whether Start found the postmaster already running instead of starting it.
func (c *Cluster) Reused() bool { return c.reused }

// Stop shuts the cluster down with pg_ctl's fast mode (active sessions are disconnected, no
// crash recovery needed on the next start). It also stops a reused postmaster: whoever calls
// Stop owns the cluster from then on.
func (c *Cluster) Stop(ctx context.Context) error {
	out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60")
	if err != nil {
		// Exit status 1 with "Is server running?" means there is nothing to stop.
		if strings.Contains(out, "Is server running?") {
			return nil
		}
		return fmt.Errorf("localpg: pg_ctl stop: %w: %s", err, strings.TrimSpace(out))
	}
	c.log.Info("postgres stopped")
	return nil
}

// EnsureDatabase creates database name unless it exists.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("localpg: empty database name")
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("localpg: connect to %s: %w", c.URL("postgres"), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("localpg: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("localpg: create database %q: %w", name, err)
	}
	c.log.Info("database created", "database", name)
	return nil
}

// prepareDir creates Dir and, when running as root, hands it to the postgres user and makes
// sure that user can reach it.
func (c *Cluster) prepareDir() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("localpg: create %s: %w", c.dir, err)
	}
	if c.runAs == nil {
		return nil
	}
	uid, gid := int(c.runAs.Uid), int(c.runAs.Gid)
	chown := func(path string) error {
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(path, uid, gid)
	}
	// Dir itself (the socket and the log go there), then the data directory, which may have
	// been created by an earlier run as another user: postgres insists on owning it. Other
	// files an operator keeps in Dir are left alone.
	if err := chown(c.dir); err != nil {
		return fmt.Errorf("localpg: hand %s to the postgres user: %w", c.dir, err)
	}
	if err := chown(filepath.Join(c.dir, "postgres.log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localpg: hand the server log to the postgres user: %w", err)
	}
	err := filepath.WalkDir(c.dataDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return chown(path)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localpg: hand %s to the postgres user: %w", c.dataDir, err)
	}
	return makeTraversable(filepath.Dir(c.dir), c.log)
}

// makeTraversable adds the search (x) bit for others to every ancestor of dir that lacks it,
// since the postgres user must be able to walk down to its data directory. t.TempDir() and
// os.MkdirTemp create 0700 directories, for instance.
func makeTraversable(dir string, log *slog.Logger) error {
	for {
		info, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("localpg: stat %s: %w", dir, err)
		}
		if mode := info.Mode().Perm(); mode&0o001 == 0 {
			if err := os.Chmod(dir, mode|0o001); err != nil {
				return fmt.Errorf("localpg: make %s traversable for the postgres user (chmod o+x): %w", dir, err)
			}
			log.Info("made directory traversable for the postgres user", "path", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// initialized reports whether the data directory holds a cluster.
func (c *Cluster) initialized() (bool, error) {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("localpg: %w", err)
	}
	entries, err := os.ReadDir(c.dataDir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("localpg: %w", err)
	}
	return false, fmt.Errorf("localpg: %s is not empty but has no PG_VERSION (an interrupted initdb?): "+
		"remove it to let localpg create a fresh cluster", c.dataDir)
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.log.Info("creating postgres cluster", "data", c.dataDir)
	out, err := c.run(ctx, "initdb",
		"-D", c.dataDir,
		"-U", Superuser,
		// Trust is for the local socket and 127.0.0.1 only: pg_hba.conf is rewritten below.
		"-A", "trust",
		"-E", "UTF8",
		// The C locale exists everywhere and keeps sorting byte-wise and predictable.
		"--locale=C",
		"--no-instructions",
	)
	if err != nil {
		// Leave no half-made data directory behind: the next Start would refuse it.
		_ = os.RemoveAll(c.dataDir)
		return fmt.Errorf("localpg: initdb: %w: %s", err, strings.TrimSpace(out))
	}
	hba := "# Written by squall localpg: trust for the local socket and 127.0.0.1 only.\n" +
		"local all all trust\n" +
		"host all all 127.0.0.1/32 trust\n"
	if err := c.writeOwned(filepath.Join(c.dataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# Port, addresses and socket directory are managed by squall localpg.\ninclude_if_exists = '%s'\n", confFile)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("localpg: append to postgresql.conf: %w", err)
	}
	return nil
}

// writeConf rewrites the included settings file with this start's port and directories.
func (c *Cluster) writeConf() error {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	conf := fmt.Sprintf("# Rewritten by squall localpg on every start; edit postgresql.conf instead.\n"+
		"listen_addresses = '127.0.0.1'\n"+
		"port = %d\n"+
		"unix_socket_directories = %s\n"+
		// Temporal's persistence alone opens dozens of connections per service.
		"max_connections = 300\n",
		c.port, quote(c.dir))
	return c.writeOwned(filepath.Join(c.dataDir, confFile), []byte(conf), 0o600)
}

// writeOwned writes a file inside the data directory, owned by the user postgres runs as.
func (c *Cluster) writeOwned(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("localpg: write %s: %w", path, err)
	}
	if c.runAs != nil {
		if err := os.Chown(path, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			return fmt.Errorf("localpg: chown %s: %w", path, err)
		}
	}
	return nil
}

// running asks pg_ctl whether a postmaster runs on the data directory. pg_ctl checks that the
// PID in postmaster.pid is alive, so a stale file left by a crash reads as "not running".
func (c *Cluster) running(ctx context.Context) (bool, error) {
	out, err := c.run(ctx, "pg_ctl", "status", "-D", c.dataDir)
	if err == nil {
		return true, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 3 { // 3: no server running
		return false, nil
	}
	return false, fmt.Errorf("localpg: pg_ctl status: %w: %s", err, strings.TrimSpace(out))
}

// adoptRunning takes over a postmaster that is already running on the data directory, using
// the port it actually listens on.
func (c *Cluster) adoptRunning(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("localpg: read postmaster.pid: %w", err)
	}
	// Line 4 of postmaster.pid is the port (see pidfile.h).
	lines := strings.Split(string(data), "\n")
	if len(lines) >= 4 {
		if p, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil && p != c.port {
			c.log.Warn("reusing running postgres on a different port than requested",
				"requested", c.port, "port", p)
			c.port = p
		}
	}
	c.reused = true
	pid := strings.TrimSpace(lines[0])
	if err := c.ping(ctx, 5*time.Second); err != nil {
		return fmt.Errorf("localpg: postmaster.pid names live process %s but nothing answers on %s (%w); "+
			"if no postgres runs on %s, remove %s and start again",
			pid, c.URL("postgres"), err, c.dataDir, filepath.Join(c.dataDir, "postmaster.pid"))
	}
	c.log.Info("reusing running postgres", "pid", pid, "port", c.port)
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	logFile := filepath.Join(c.dir, "postgres.log")
	c.log.Info("starting postgres", "port", c.port, "log", logFile)
	// -w waits until the server accepts connections; pg_ctl and postgres themselves deal with a
	// stale postmaster.pid whose process is gone.
	out, err := c.run(ctx, "pg_ctl", "start", "-D", c.dataDir, "-l", logFile, "-w", "-t", "60")
	if err != nil {
		return fmt.Errorf("localpg: pg_ctl start: %w: %s\n%s", err, strings.TrimSpace(out), tail(logFile, 15))
	}
	return c.ping(ctx, 10*time.Second)
}

// ping waits until the server accepts a TCP connection and answers a query.
func (c *Cluster) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var versionRe = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// checkVersion refuses a data directory made by another major version: postgres would fail
// with a message that does not say what to do.
func (c *Cluster) checkVersion(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	dataMajor := strings.TrimSpace(string(raw))
	out, err := c.run(ctx, "pg_ctl", "--version")
	if err != nil {
		return fmt.Errorf("localpg: pg_ctl --version: %w: %s", err, strings.TrimSpace(out))
	}
	m := versionRe.FindStringSubmatch(out)
	if m == nil || m[1] == dataMajor {
		return nil
	}
	return fmt.Errorf("localpg: %s was created by PostgreSQL %s but %s holds PostgreSQL %s: "+
		"set BinDir to a PostgreSQL %s installation, or upgrade the cluster with pg_upgrade, or remove %s to start afresh",
		c.dataDir, dataMajor, c.binDir, m[1], dataMajor, c.dataDir)
}

// run executes a Postgres program from binDir, as the postgres user when we are root, and
// returns its combined output.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, prog), args...)
	// initdb and pg_ctl resolve their own location and the data directory relative to the
	// working directory; the caller's may not be reachable by the postgres user.
	cmd.Dir = c.dir
	cmd.Env = cleanEnv(os.Environ())
	if c.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
		cmd.Env = append(cmd.Env, "HOME="+c.dir, "USER=postgres", "LOGNAME=postgres")
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// pg_ctl start leaves the postmaster running with our pipes as its stdout/stderr unless
	// its output goes to -l; it does here, so Wait returns once pg_ctl itself exits.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// cleanEnv drops libpq variables (PGPORT, PGDATA, PGHOST, ...) that would silently redirect
// pg_ctl's readiness check or initdb to another cluster, and HOME/USER when we switch user.
func cleanEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "PG") ||
			(os.Geteuid() == 0 && (strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "USER=") || strings.HasPrefix(kv, "LOGNAME=")))
	})
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("localpg: running as root, so postgres must run as the postgres system user, "+
			"but it does not exist (%w): install the postgresql package or create the user (useradd --system postgres)", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("localpg: uid of postgres user %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("localpg: gid of postgres user %q: %w", u.Gid, err)
	}
	// Credential with no Groups would keep root's supplementary groups; set them explicitly.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}, nil
}

// findBinDir locates the directory holding initdb, pg_ctl and postgres.
func findBinDir(explicit string) (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if info, err := os.Stat(filepath.Join(dir, p)); err != nil || info.IsDir() {
				return false
			}
		}
		return true
	}
	if explicit != "" {
		if !has(explicit) {
			return "", fmt.Errorf("localpg: BinDir %s lacks initdb, pg_ctl or postgres: point it at a PostgreSQL bin directory", explicit)
		}
		return explicit, nil
	}
	var tried []string
	// Debian/Ubuntu install server binaries outside PATH, one directory per major version.
	if dirs, err := filepath.Glob("/usr/lib/postgresql/*/bin"); err == nil {
		slices.SortFunc(dirs, func(a, b string) int { return majorOf(b) - majorOf(a) })
		for _, d := range dirs {
			if has(d) {
				return d, nil
			}
			tried = append(tried, d)
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if has(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if d := filepath.Dir(p); has(d) {
			return d, nil
		}
		tried = append(tried, filepath.Dir(p))
	}
	tried = append(tried, "PATH")
	return "", fmt.Errorf("localpg: initdb not found (looked in %s): install the PostgreSQL server package "+
		"(e.g. apt-get install postgresql) or set BinDir", strings.Join(tried, ", "))
}

// majorOf extracts the version from /usr/lib/postgresql/<version>/bin; 0 if not numeric.
func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// tail returns the last n lines of a file, for error messages pointing at the server log.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return path + ":\n" + strings.Join(lines, "\n")
}
