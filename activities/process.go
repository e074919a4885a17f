package activities

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"

	"github.com/squall-automation/squall/procgroup"
)

const (
	// flushInterval and flushBytes batch live output: a chunk goes to the
	// sink when it is this old or this big, whichever comes first, so a
	// chatty action costs a few writes a second rather than one per line.
	flushInterval = 100 * time.Millisecond
	flushBytes    = 64 << 10
	readChunk     = 32 << 10
	// sinkTimeout bounds one AppendOutput call.
	sinkTimeout = 30 * time.Second
	// drainGrace is how long output is still read after the action's main
	// process exited: background children that keep the pipes open (a
	// daemon started with "&") must not keep the execution running.
	drainGrace = 2 * time.Second
)

// procSpec describes one action process.
type procSpec struct {
	path    string
	args    []string // argv[1:]
	dir     string
	env     []string
	stdin   []byte // nil: the child reads /dev/null
	timeout time.Duration
	// resultPipe gives the child a third pipe as fd 3; up to resultLimit bytes
	// written there come back in procOutcome.result. The Python wrapper
	// returns the action's value that way, apart from what the action prints.
	resultPipe  bool
	resultLimit int
}

// procOutcome is a finished (or killed) process.
type procOutcome struct {
	// exitCode follows Python's subprocess convention, which st2's statuses
	// are keyed on: the exit status, or -N for death by signal N.
	exitCode int
	timedOut bool // the action timeout expired and the group was killed
	stopped  bool // the activity context ended and the group was killed

	stdout, stderr string
	stdoutCut      bool // the result keeps only the head and tail
	stderrCut      bool

	result         []byte
	resultOverflow bool
}

// runProcess runs spec to completion, streaming its output to the sink. It
// returns an error only when the process could not be started.
func (r *Runners) runProcess(ctx context.Context, req RunRequest, spec procSpec) (procOutcome, error) {
	var out procOutcome
	var parentEnds, childEnds []*os.File
	defer func() {
		for _, f := range append(parentEnds, childEnds...) {
			_ = f.Close() // idempotent enough: a second Close only reports ErrClosed
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		rd, wr, err := os.Pipe()
		if err != nil {
			return nil, nil, fmt.Errorf("create pipe: %w", err)
		}
		return rd, wr, nil
	}

	outR, outW, err := pipe()
	if err != nil {
		return out, err
	}
	parentEnds, childEnds = append(parentEnds, outR), append(childEnds, outW)
	errR, errW, err := pipe()
	if err != nil {
		return out, err
	}
	parentEnds, childEnds = append(parentEnds, errR), append(childEnds, errW)

	cmd := exec.Command(spec.path, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	// *os.File values are handed to the child as they are: no copying
	// goroutines, so Wait returns when the process exits and we decide how
	// long to keep reading.
	cmd.Stdout, cmd.Stderr = outW, errW

	var inW *os.File
	if spec.stdin != nil {
		var inR *os.File
		if inR, inW, err = pipe(); err != nil {
			return out, err
		}
		parentEnds, childEnds = append(parentEnds, inW), append(childEnds, inR)
		cmd.Stdin = inR
	}
	var resR *os.File
	if spec.resultPipe {
		var resW *os.File
		if resR, resW, err = pipe(); err != nil {
			return out, err
		}
		parentEnds, childEnds = append(parentEnds, resR), append(childEnds, resW)
		cmd.ExtraFiles = []*os.File{resW}
	}

	// procgroup: the action and everything it spawns share one process
	// group, so a timeout or cancellation can kill all of it, not just the
	// shell; and if the worker dies, the kernel kills the action instead of
	// leaving an orphan running unsupervised.
	group, startErr := procgroup.Start(cmd)
	// The child has its copies; ours must go, or the readers never see EOF.
	for _, f := range childEnds {
		_ = f.Close()
	}
	childEnds = nil
	if startErr != nil {
		return out, startErr
	}

	if inW != nil {
		go func() {
			// A child that never reads its stdin makes this fail with EPIPE
			// once it exits; that is fine.
			_, _ = inW.Write(spec.stdin)
			_ = inW.Close()
		}()
	}

	attempt := activity.GetInfo(ctx).Attempt
	sinkCtx := context.WithoutCancel(ctx) // output produced before a cancel still gets stored
	stdout := r.newStream(sinkCtx, req.ExecutionID, attempt, "stdout")
	stderr := r.newStream(sinkCtx, req.ExecutionID, attempt, "stderr")
	stdout.start(outR)
	stderr.start(errR)
	readers := []<-chan struct{}{stdout.done, stderr.done}

	var resBuf []byte
	if resR != nil {
		resDone := make(chan struct{})
		readers = append(readers, resDone)
		go func() {
			defer close(resDone)
			b, err := io.ReadAll(io.LimitReader(resR, int64(spec.resultLimit)+1))
			if err == nil && len(b) > spec.resultLimit {
				out.resultOverflow = true
				b = b[:spec.resultLimit]
				_, _ = io.Copy(io.Discard, resR) // keep the writer from blocking
			}
			resBuf = b
		}()
	}

	hbStop := make(chan struct{})
	defer close(hbStop)
	go r.heartbeat(ctx, hbStop)

	timer := time.NewTimer(spec.timeout)
	defer timer.Stop()
	select {
	case <-group.Exited():
	case <-timer.C:
		out.timedOut = true
		group.Kill(r.killGrace())
	case <-ctx.Done():
		out.stopped = true
		group.Kill(r.killGrace())
	}

	if !waitAll(readers, drainGrace) {
		// Something outside the group (or a daemon left behind on purpose)
		// still holds the pipes. Closing our ends unblocks the readers.
		r.logger().Warn("action left processes holding its output open; no longer reading them",
			"execution_id", req.ExecutionID, "action", req.ActionRef)
		for _, f := range parentEnds {
			_ = f.Close()
		}
		waitAll(readers, time.Minute)
	}

	out.exitCode = group.ExitCode() // the leader has been reaped on every path here
	out.stdout, out.stdoutCut = stdout.capture.text()
	out.stderr, out.stderrCut = stderr.capture.text()
	out.result = resBuf
	return out, nil
}

// waitAll waits for every channel to close, at most d in total.
func waitAll(chans []<-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, c := range chans {
		select {
		case <-c:
		case <-t.C:
			return false
		}
	}
	return true
}

// stream reads one of the child's output pipes: every byte goes to the sink
// in batches, and a bounded copy is kept for the result.
type stream struct {
	r       *Runners
	ctx     context.Context
	execID  string
	attempt int32
	name    string
	capture capture
	done    chan struct{}

	sinkErrors int
}

func (r *Runners) newStream(ctx context.Context, execID string, attempt int32, name string) *stream {
	return &stream{
		r: r, ctx: ctx, execID: execID, attempt: attempt, name: name,
		capture: capture{limit: r.maxOutput()},
		done:    make(chan struct{}),
	}
}

// start reads f until EOF (or until f is closed) in one goroutine and
// batches in another, so a slow sink never delays draining the pipe by more
// than the small channel buffer.
func (s *stream) start(f *os.File) {
	chunks := make(chan []byte, 8)
	go func() {
		defer close(chunks)
		buf := make([]byte, readChunk)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				chunks <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(s.done)
		var batch []byte
		timer := time.NewTimer(flushInterval)
		timer.Stop()
		armed := false
		flush := func() {
			if armed {
				timer.Stop()
				armed = false
			}
			if len(batch) > 0 {
				s.send(batch)
				batch = nil // the sink may keep the slice
			}
		}
		for {
			select {
			case c, ok := <-chunks:
				if !ok {
					flush()
					if s.sinkErrors > 1 {
						s.r.logger().Warn("output sink failures", "execution_id", s.execID,
							"stream", s.name, "failed_writes", s.sinkErrors)
					}
					return
				}
				s.capture.write(c)
				if len(batch)+len(c) > flushBytes {
					flush()
				}
				if batch == nil {
					batch = make([]byte, 0, flushBytes)
				}
				batch = append(batch, c...)
				if len(batch) >= flushBytes {
					flush()
				} else if !armed {
					timer.Reset(flushInterval)
					armed = true
				}
			case <-timer.C:
				armed = false
				flush()
			}
		}
	}()
}

func (s *stream) send(data []byte) {
	if s.r.Output == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, sinkTimeout)
	defer cancel()
	if err := s.r.Output.AppendOutput(ctx, s.execID, s.attempt, s.name, data); err != nil {
		s.sinkErrors++
		if s.sinkErrors == 1 { // once per stream; the total is logged at the end
			s.r.logger().Warn("storing action output failed", "execution_id", s.execID,
				"stream", s.name, "error", err)
		}
	}
}

// capture keeps at most limit bytes of a stream: the first half and the
// latest half, so both how an action started and how it ended survive.
// Memory stays under 1.5*limit whatever the output size.
type capture struct {
	limit int
	head  []byte
	tail  []byte
	total int64
}

func (c *capture) write(p []byte) {
	c.total += int64(len(p))
	headCap := c.limit / 2
	if n := headCap - len(c.head); n > 0 {
		take := min(n, len(p))
		c.head = append(c.head, p[:take]...)
		p = p[take:]
	}
	tailCap := c.limit - headCap
	c.tail = append(c.tail, p...)
	if len(c.tail) > 2*tailCap {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-tailCap:]...)
	}
}

// text returns the captured output and whether the middle was dropped, in
// which case a marker line says how much.
func (c *capture) text() (string, bool) {
	if c.total <= int64(c.limit) {
		return string(c.head) + string(c.tail), false
	}
	tailCap := c.limit - c.limit/2
	head := trimPartialRuneEnd(c.head)
	tail := trimPartialRuneStart(c.tail[len(c.tail)-tailCap:])
	omitted := c.total - int64(len(head)) - int64(len(tail))
	return fmt.Sprintf("%s\n... [%d bytes omitted by Squall; the full output is in the execution's output] ...\n%s",
		head, omitted, tail), true
}

func trimPartialRuneEnd(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

func trimPartialRuneStart(b []byte) []byte {
	for i := 0; i < len(b) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(b[i]) {
			return b[i:]
		}
	}
	return b
}

// stripShellChars removes one trailing "\n" and then one trailing "\r", as
// st2's strip_shell_chars does to stdout and stderr.
func stripShellChars(s string) string {
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '\r' {
		s = s[:len(s)-1]
	}
	return s
}
