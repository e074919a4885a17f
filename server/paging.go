package server

import (
	"net/http"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"
)

// page is a list request's limit and offset as StackStorm reads them.
type page struct {
	// Limit is the page size; 0 means every record (st2's limit=-1, which
	// st2 allows administrators, and every Squall user is one).
	Limit  int
	Offset int
}

var intRE = regexp.MustCompile(`^-?[0-9]+$`)

// parsePage reads ?limit= and ?offset= with st2's validation and messages.
func parsePage(c echo.Context, defaultLimit int) (page, error) {
	p := page{Limit: defaultLimit}
	if v := c.QueryParam("limit"); v != "" {
		n, err := queryInt("limit", v)
		if err != nil {
			return p, err
		}
		switch {
		case n == -1:
			p.Limit = 0
		case n <= -2:
			return p, badRequest("Limit, %q specified, must be a positive number.", v)
		case n > 0:
			p.Limit = n
		}
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := queryInt("offset", v)
		if err != nil {
			return p, err
		}
		if n < 0 {
			return p, badRequest("Offset, %q specified, must be a positive number.", v)
		}
		p.Offset = n
	}
	return p, nil
}

func queryInt(name, v string) (int, error) {
	if !intRE.MatchString(v) {
		return 0, badRequest("Parameter %q is not of type integer", name)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("Parameter %q is out of range", name)
	}
	return n, nil
}

// setPageHeaders sets st2's paging headers on a list answer.
func setPageHeaders(c echo.Context, p page, total int) {
	h := c.Response().Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	if p.Limit > 0 {
		h.Set("X-Limit", strconv.Itoa(p.Limit))
	}
}

// slicePage applies p to an in-memory list (for lists the store returns
// whole).
func slicePage[T any](items []T, p page) []T {
	if p.Offset >= len(items) {
		return []T{}
	}
	items = items[p.Offset:]
	if p.Limit > 0 && p.Limit < len(items) {
		items = items[:p.Limit]
	}
	return items
}

// listJSON answers a list with st2's headers; nil lists become [].
func listJSON[T any](c echo.Context, items []T, p page, total int) error {
	if items == nil {
		items = []T{}
	}
	setPageHeaders(c, p, total)
	return c.JSON(http.StatusOK, items)
}
