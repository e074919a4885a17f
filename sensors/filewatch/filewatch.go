// Package filewatch is Squall's built-in stand-in for StackStorm's
// linux.FileWatchSensor: it follows the files named by the file_path
// parameter of the active linux.file_watch.line triggers and dispatches one
// event per new line, with st2's payload {file_path, file_name, line}.
//
// Like st2's tailer it reports lines appended after it started watching a
// file, not what the file held before. It polls (cheap, and it works on
// network file systems where inotify does not): a file that is replaced
// (rotation: a new inode at the path) is read to its end and then the new
// file is followed from its start; a file that shrinks (truncation) is
// followed from its start again; a file that does not exist yet is picked up
// from its start once it appears.
package filewatch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
)

// TriggerType is st2's trigger type of the sensor. Events carry the type of
// the trigger that names the file, so a pack may declare its own type with a
// file_path parameter and use the built-in through the marker line.
const TriggerType = "linux.file_watch.line"

// DefaultPollInterval is how often files are checked for new data.
const DefaultPollInterval = 250 * time.Millisecond

// maxLine bounds a line kept in memory while waiting for its newline; a
// longer line is dispatched in pieces of this size.
const maxLine = 1 << 20

// Options configures Run.
type Options struct {
	// Triggers delivers the active triggers (of TriggerType) at the start
	// and whenever they change.
	Triggers <-chan []catalog.Trigger
	// Dispatch accepts one event; it retries on its own and returns an error
	// only when it gave up (the context ended).
	Dispatch     func(context.Context, ingest.Event) error
	Logger       *slog.Logger
	PollInterval time.Duration
}

// Run follows the triggers' files until ctx ends; it returns nil then.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	files := map[string]*tail{} // by path
	defer func() {
		for _, t := range files {
			t.close()
		}
	}()
	tick := time.NewTicker(opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ts := <-opts.Triggers:
			files = reconcile(files, ts, opts.Logger)
		case <-tick.C:
			for _, t := range files {
				if err := t.poll(ctx, opts.Dispatch); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					opts.Logger.Warn("following a file failed", "file_path", t.path, "error", err)
				}
			}
		}
	}
}

// reconcile starts following new paths and stops following dropped ones.
// A path's trigger (its parameters) is updated in place.
func reconcile(files map[string]*tail, ts []catalog.Trigger, log *slog.Logger) map[string]*tail {
	want := map[string]catalog.Trigger{}
	for _, t := range ts {
		p, _ := t.Parameters["file_path"].(string)
		if p == "" {
			log.Warn("trigger without a file_path parameter; ignored", "trigger", t.Ref)
			continue
		}
		want[filepath.Clean(p)] = t
	}
	for path, t := range files {
		if _, ok := want[path]; !ok {
			log.Info("no longer watching file", "file_path", path)
			t.close()
			delete(files, path)
		}
	}
	for path, trig := range want {
		if t, ok := files[path]; ok {
			t.trigger = trig
			continue
		}
		t := &tail{path: path, trigger: trig, log: log}
		t.start()
		files[path] = t
		log.Info("watching file", "file_path", path)
	}
	return files
}

// tail follows one path.
type tail struct {
	path    string
	trigger catalog.Trigger
	log     *slog.Logger

	f       *os.File
	ino     uint64
	dev     uint64
	offset  int64
	partial []byte
	// fromStart: when the file appears, read it from the beginning (it is
	// new); at the first look an existing file is followed from its end.
	fromStart bool
}

// start opens the file positioned at its end, or notes that it is missing.
func (t *tail) start() {
	if err := t.open(false); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.log.Warn("cannot open watched file yet", "file_path", t.path, "error", err)
		}
		t.fromStart = true
	}
}

func (t *tail) open(fromStart bool) error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	t.f = f
	t.dev, t.ino = fileID(st)
	t.offset = 0
	if !fromStart {
		t.offset = st.Size()
	}
	t.partial = nil
	return nil
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// poll dispatches the lines added since the last poll and handles rotation
// and truncation.
func (t *tail) poll(ctx context.Context, dispatch func(context.Context, ingest.Event) error) error {
	if t.f == nil {
		if err := t.open(t.fromStart); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				t.fromStart = true
				return nil
			}
			return err
		}
		t.log.Info("watched file appeared", "file_path", t.path)
	}
	st, statErr := os.Stat(t.path)
	if statErr == nil {
		dev, ino := fileID(st)
		if dev != t.dev || ino != t.ino {
			// Rotated: finish the old file (a writer may have added lines
			// just before the rename), then follow the new one from its
			// start.
			if err := t.read(ctx, dispatch, true); err != nil {
				return err
			}
			t.close()
			t.log.Info("watched file was replaced; following the new one", "file_path", t.path)
			if err := t.open(true); err != nil {
				t.fromStart = true
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
		} else if st.Size() < t.offset {
			t.log.Info("watched file was truncated; reading it from the start", "file_path", t.path)
			t.offset = 0
			t.partial = nil
		}
	} else if !errors.Is(statErr, os.ErrNotExist) {
		return statErr
	}
	// A removed file (statErr is ErrNotExist) is still read to its end; a
	// new one at the path is picked up by the inode check later.
	if statErr != nil {
		if err := t.read(ctx, dispatch, true); err != nil {
			return err
		}
		t.close()
		t.fromStart = true
		return nil
	}
	return t.read(ctx, dispatch, false)
}

// read dispatches complete lines from offset to EOF; final also dispatches
// a last line without a newline (the file will not grow any more).
func (t *tail) read(ctx context.Context, dispatch func(context.Context, ingest.Event) error, final bool) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := t.f.ReadAt(buf, t.offset)
		if n > 0 {
			t.offset += int64(n)
			if derr := t.consume(ctx, buf[:n], dispatch); derr != nil {
				return derr
			}
		}
		if errors.Is(err, io.EOF) || n == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	if final && len(t.partial) > 0 {
		line := t.partial
		t.partial = nil
		return t.emit(ctx, line, dispatch)
	}
	return nil
}

func (t *tail) consume(ctx context.Context, data []byte, dispatch func(context.Context, ingest.Event) error) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.partial = append(t.partial, data...)
			if len(t.partial) >= maxLine {
				line := t.partial
				t.partial = nil
				return t.emit(ctx, line, dispatch)
			}
			return nil
		}
		line := append(t.partial, data[:i]...)
		t.partial = nil
		data = data[i+1:]
		if err := t.emit(ctx, line, dispatch); err != nil {
			return err
		}
	}
	return nil
}

func (t *tail) emit(ctx context.Context, line []byte, dispatch func(context.Context, ingest.Event) error) error {
	line = bytes.TrimSuffix(line, []byte("\r"))
	typ := t.trigger.Type
	if typ == "" {
		typ = TriggerType
	}
	return dispatch(ctx, ingest.Event{
		TriggerType:   typ,
		TriggerParams: t.trigger.Parameters,
		Payload: map[string]any{
			"file_path": t.path,
			"file_name": filepath.Base(t.path),
			"line":      string(line),
		},
	})
}

func fileID(st os.FileInfo) (dev, ino uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), s.Ino
	}
	return 0, 0
}
