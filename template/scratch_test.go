package template

import (
	"fmt"
	"testing"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

func TestScratch(t *testing.T) {
	cfg := config.New()
	cfg.StrictUndefined = true
	for _, src := range []string{`{{ x | default('y') }}`, `{% if x is defined %}a{% else %}b{% endif %}`, `{{ d.a.b }}`, `{{ d.zz }}`, `{{ d['zz'] }}`, `{{ undefinedvar }}`, `{% include "/etc/hostname" %}`, `{{ x }`, "a\n{{ x ]] }}", `{{ d.get('zz', 3) }}`, `{% for i in range(3) %}{{ i }}{% endfor %}`, `{{ 'abc' | replace('b','x') }}`,`{{ 3 | string }}`, "{% if true %}\nx\n{% endif %}\n", "{{ 1 }}\n", "{% set a = 1 %}{{ a }}{{ loop }}", `{{ f(a=1, b=c) | x(y) is foo }}`} {
		s := tokens.LexAll(src, cfg)
		for ; !s.EOF(); s.Next() {
			tk := s.Current()
			fmt.Printf("  tok %s line %d col %d %q\n", tokens.Names[tk.Type], tk.Line, tk.Col, tk.Val)
			if s.IsError() { break }
		}
		loader, _ := loaders.NewMemoryLoader(map[string]string{"/t": src})
		tpl, err := exec.NewTemplate("/t", cfg, loader, gonja.DefaultEnvironment)
		if err != nil {
			fmt.Printf("PARSE %q: %v\n", src, err)
			continue
		}
		out, err := tpl.ExecuteToString(exec.NewContext(map[string]any{"message": "hi", "d": map[string]any{"a": 1}, "l": []any{"a", 1}, "n": 5, "f": 1.5, "b": true}))
		fmt.Printf("EXEC %q: %q %v\n", src, out, err)
	}
}
