package pack

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a pack: where it is and what it is.
type Problem struct {
	// File is relative to the pack directory (slash-separated). A pack config
	// read from LoadOptions.ConfigsDir lies outside the pack and is named by
	// its full path.
	File string `json:"file"`
	// Line is 1-based; 0 when the problem concerns the file as a whole (it
	// cannot be read, it is too large, it is a symlink out of the pack).
	Line int    `json:"line"`
	Msg  string `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Msg
	case p.Line == 0:
		return p.File + ": " + p.Msg
	default:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
}

// LoadError carries every problem found in one pack. Registration is
// all-or-nothing, so the loader keeps going after the first problem and
// reports them together: an operator fixes a pack in one round trip.
type LoadError struct {
	Dir      string    // the pack directory as given to Load
	Problems []Problem // sorted by file, then line
}

func (e *LoadError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "load pack %s: %s", e.Dir, e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "load pack %s: %d problems:", e.Dir, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems for one pack.
type problems struct {
	list []Problem
}

func (ps *problems) add(file string, line int, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) err(dir string) error {
	if len(ps.list) == 0 {
		return nil
	}
	sorted := append([]Problem(nil), ps.list...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].File != sorted[j].File {
			return sorted[i].File < sorted[j].File
		}
		return sorted[i].Line < sorted[j].Line
	})
	return &LoadError{Dir: dir, Problems: sorted}
}
