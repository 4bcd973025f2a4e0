package dispatch

import "strings"

// glob matches event types; "*" matches any run of characters, dots included.
type glob struct {
	parts []string // literal pieces between stars
	star  bool
}

func compileGlob(pattern string) glob {
	return glob{parts: strings.Split(pattern, "*"), star: strings.Contains(pattern, "*")}
}

func (g glob) match(s string) bool {
	if !g.star {
		return s == g.parts[0]
	}
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, mid := range g.parts[1 : len(g.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// globs matches when any of its globs does.
type globs []glob

func compileGlobs(patterns []string) globs {
	gs := make(globs, len(patterns))
	for i, p := range patterns {
		gs[i] = compileGlob(p)
	}
	return gs
}

func (gs globs) match(s string) bool {
	for _, g := range gs {
		if g.match(s) {
			return true
		}
	}
	return false
}

// MatchType reports whether an event type matches a glob (exported for the admin API).
func MatchType(pattern, typ string) bool { return compileGlob(pattern).match(typ) }
