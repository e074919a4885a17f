package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// fault is an error answered with StackStorm's error body
// {"faultstring": "..."} and an HTTP status. Handlers return faults for
// everything the caller did wrong; any other error becomes a logged 500
// whose body says nothing about the internals.
type fault struct {
	Status int
	Msg    string
}

func (f *fault) Error() string { return fmt.Sprintf("%d %s", f.Status, f.Msg) }

func faultf(status int, format string, args ...any) error {
	return &fault{Status: status, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return faultf(http.StatusBadRequest, format, args...)
}

func notFound(format string, args ...any) error {
	return faultf(http.StatusNotFound, format, args...)
}

// faultBody is st2's error document.
type faultBody struct {
	Faultstring string `json:"faultstring"`
}

// errorHandler renders every error as st2's fault document. Internal errors
// are logged with the request's method and route; request bodies never are,
// since they may carry secret parameters.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		// A streaming response already started; all we can do is log.
		s.log.Warn("error after response started", "method", c.Request().Method, "path", c.Path(), "error", err)
		return
	}
	status, msg := http.StatusInternalServerError, "Internal Server Error"
	var f *fault
	var he *echo.HTTPError
	switch {
	case errors.As(err, &f):
		status, msg = f.Status, f.Msg
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "The resource could not be found."
		case http.StatusMethodNotAllowed:
			msg = "The server could not comply with the request since it is either malformed or otherwise incorrect."
		case http.StatusRequestEntityTooLarge:
			msg = fmt.Sprintf("Request body is too large: the limit is %d bytes.", s.cfg.MaxBodyBytes)
		default:
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(status)
			}
		}
		if status >= 500 {
			s.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "error", err)
			msg = "Internal Server Error"
		}
	default:
		s.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "error", err)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, faultBody{Faultstring: msg})
	}
	if err != nil {
		s.log.Warn("write error response", "error", err)
	}
}

// decodeBody reads the JSON request body into v. An empty body counts as {}
// (st2 does the same, so POSTs without a body still validate). Malformed
// JSON answers 400 with the parser's message, an oversized body 413.
func decodeBody(c echo.Context, v any) error {
	data, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // 413 from the body limit
		}
		return badRequest("Failed to read request body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("Failed to parse request body: field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return badRequest("Failed to parse request body: %v", err)
	}
	return nil
}
