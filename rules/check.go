package rules

import (
	"fmt"

	"github.com/squall-automation/squall/pack"
)

// CheckPack compiles every rule of a loaded pack (criteria, Jinja, CEL) and
// runs the extra checks given (timer parameters, ...), so that a bad rule is
// a registration error naming its file rather than a surprise at run time.
// It returns nil when every rule is fine.
func CheckPack(p *pack.Pack, extra ...func(pack.Rule) error) *pack.LoadError {
	var problems []pack.Problem
	for _, r := range p.Rules {
		if _, err := Compile(r); err != nil {
			problems = append(problems, pack.Problem{File: r.MetadataFile, Msg: fmt.Sprintf("rule %s: %v", r.Ref, err)})
			continue
		}
		for _, check := range extra {
			if err := check(r); err != nil {
				problems = append(problems, pack.Problem{File: r.MetadataFile, Msg: fmt.Sprintf("rule %s: %v", r.Ref, err)})
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &pack.LoadError{Dir: p.Path, Problems: problems}
}
