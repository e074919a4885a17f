package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
)

// st2stream's event names and end-of-stream marker.
const (
	outputEvent = "st2.execution.output__create"
	eofEvent    = "event: EOF\ndata: ''\n\n"
)

// outputEventData is st2's ActionExecutionOutputAPI document.
type outputEventData struct {
	ID          string `json:"id"`
	ExecutionID string `json:"execution_id"`
	ActionRef   string `json:"action_ref,omitempty"`
	RunnerRef   string `json:"runner_ref,omitempty"`
	Timestamp   string `json:"timestamp"`
	OutputType  string `json:"output_type"`
	Data        string `json:"data"`
}

func isFinalStatus(status string) bool {
	switch status {
	case execution.StatusSucceeded, execution.StatusFailed, execution.StatusTimeout,
		execution.StatusAbandoned, execution.StatusCanceled:
		return true
	}
	return false
}

// streamOutput is GET /stream/v1/executions/{id}/output: the execution's
// output as server-sent events in st2stream's format, first what is stored,
// then new chunks as they are written (polled from the catalog), until the
// execution has finished and everything was sent; then an EOF event. Comment
// lines keep idle connections open through proxies. A client that goes away
// ends the loop through the request context.
func (s *Server) streamOutput(c echo.Context) error {
	stream, err := outputStream(c)
	if err != nil {
		return err
	}
	id, err := s.executionID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ex, err := s.execs.Get(ctx, id)
	if err != nil {
		return execError(err, id)
	}
	actionRef, _ := ex.Action["ref"].(string)
	runnerRef, _ := ex.Runner["name"].(string)
	if runnerRef == "" {
		runnerRef, _ = ex.Action["runner_type"].(string)
	}

	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=UTF-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx must not buffer the stream
	w.WriteHeader(http.StatusOK)
	w.Flush()

	var after int64
	var buf bytes.Buffer
	lastStatus, lastWrite := time.Now(), time.Now()
	// drain sends every stored chunk after the last one sent.
	drain := func() error {
		for {
			chunks, err := s.catalog.ReadOutput(ctx, id, after, stream, outputPage)
			if err != nil {
				return err
			}
			if len(chunks) == 0 {
				return nil
			}
			buf.Reset()
			for _, ch := range chunks {
				if err := writeOutputEvent(&buf, ch, actionRef, runnerRef); err != nil {
					return err
				}
				after = ch.ID
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			w.Flush()
			lastWrite = time.Now()
			if len(chunks) < outputPage {
				return nil
			}
		}
	}

	final := isFinalStatus(ex.Status)
	poll := time.NewTicker(s.streamPoll)
	defer poll.Stop()
	for {
		if err := drain(); err != nil {
			return s.endStream(c, id, err)
		}
		if final {
			// The status was read before this drain and runners store their
			// output before the execution finishes, so everything is sent.
			_, err := w.Write([]byte(eofEvent))
			w.Flush()
			return s.endStream(c, id, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-poll.C:
			if now.Sub(lastStatus) >= s.statusPoll {
				lastStatus = now
				cur, err := s.execs.Get(ctx, id)
				if err != nil {
					return s.endStream(c, id, err)
				}
				final = isFinalStatus(cur.Status)
			}
			if now.Sub(lastWrite) >= s.keepalive {
				lastWrite = now
				if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
					return s.endStream(c, id, err)
				}
				w.Flush()
			}
		}
	}
}

// endStream logs why a stream ended early. Once the response has started no
// error body can be sent, so nothing is returned to echo.
func (s *Server) endStream(c echo.Context, id string, err error) error {
	if err != nil && c.Request().Context().Err() == nil {
		s.log.Warn("execution output stream ended", "execution", id, "error", err)
	}
	return nil
}

func writeOutputEvent(buf *bytes.Buffer, ch catalog.OutputChunk, actionRef, runnerRef string) error {
	data, err := json.Marshal(outputEventData{
		ID:          fmt.Sprint(ch.ID),
		ExecutionID: ch.ExecutionID,
		ActionRef:   actionRef,
		RunnerRef:   runnerRef,
		Timestamp:   isoTime(ch.Timestamp),
		OutputType:  ch.Stream,
		Data:        ch.Data,
	})
	if err != nil {
		return fmt.Errorf("encode output chunk %d: %w", ch.ID, err)
	}
	// json.Marshal escapes newlines inside strings, so the data line is one
	// line as SSE requires.
	buf.WriteString("event: " + outputEvent + "\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
	return nil
}
