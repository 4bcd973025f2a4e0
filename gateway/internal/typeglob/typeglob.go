// Package typeglob matches event types against the globs of the config file
// (a subscription's events, a publisher's types): "*" matches any run of
// characters, dots included, so "orders.*" matches "orders.shipment.created".
// (gateway/internal/dispatch still has its own copy of this rule.)
package typeglob

import "strings"

// Glob is one compiled pattern.
type Glob struct {
	parts []string // literal pieces between stars
	star  bool
}

// Compile compiles one pattern; every string is a valid pattern.
func Compile(pattern string) Glob {
	return Glob{parts: strings.Split(pattern, "*"), star: strings.Contains(pattern, "*")}
}

// Match reports whether s matches g.
func (g Glob) Match(s string) bool {
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
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// Set matches when any of its globs does; an empty Set matches nothing.
type Set []Glob

// CompileAll compiles every pattern.
func CompileAll(patterns []string) Set {
	s := make(Set, len(patterns))
	for i, p := range patterns {
		s[i] = Compile(p)
	}
	return s
}

// Match reports whether any glob of s matches t.
func (s Set) Match(t string) bool {
	for _, g := range s {
		if g.Match(t) {
			return true
		}
	}
	return false
}
