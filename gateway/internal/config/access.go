package config

import (
	"fmt"
	"strings"
)

// Publisher is a caller of PublisherService with its own bearer token,
// allowed to publish only events whose type matches one of Types (globs as in
// a subscription's events): a service publishing its follow-up events needs
// no admin token.
type Publisher struct {
	Name         string   `yaml:"name"`
	TokenFromEnv string   `yaml:"token_from_env"`
	Types        []string `yaml:"types"`
}

// validateAccess checks publishers and the subscriptions' token_from_env.
func (f *File) validateAccess(v *validator) {
	seen := map[string]bool{}
	for i, p := range f.Publishers {
		at := func(key ...any) []any { return append([]any{"publishers", i}, key...) }
		if !nameRE.MatchString(p.Name) {
			v.add(fmt.Sprintf("name %q must be 1-64 letters, digits, '_' or '-'", p.Name), at("name")...)
		}
		if seen[p.Name] {
			v.add(fmt.Sprintf("duplicate publisher name %q", p.Name), at("name")...)
		}
		seen[p.Name] = true
		if !envRE.MatchString(p.TokenFromEnv) {
			v.add(fmt.Sprintf("token_from_env %q must name an environment variable", p.TokenFromEnv), at("token_from_env")...)
		}
		if len(p.Types) == 0 {
			v.add("at least one event type glob is required", at("types")...)
		}
		for j, g := range p.Types {
			if strings.TrimSpace(g) == "" || strings.ContainsAny(g, " \t\r\n") {
				v.add(fmt.Sprintf("invalid event type glob %q", g), at("types", j)...)
			}
		}
	}
	for i, s := range f.Subscriptions {
		if s.TokenFromEnv != "" && !envRE.MatchString(s.TokenFromEnv) {
			v.add(fmt.Sprintf("token_from_env %q must name an environment variable", s.TokenFromEnv), "subscriptions", i, "token_from_env")
		}
	}
}

// Access is what the config's token_from_env keys resolved to at start.
type Access struct {
	// SubscriptionTokens are the bearer tokens sent to subscriptions' targets,
	// by subscription name (only those with token_from_env).
	SubscriptionTokens map[string]string
	// Publishers are the publishers with their tokens, in config order.
	Publishers []PublisherToken
}

// PublisherToken is a Publisher with its resolved token.
type PublisherToken struct {
	Publisher
	Token string
}

// Access resolves every token_from_env through lookup (default: the
// environment, NAME or NAME_FILE). A variable that is unset is an error naming
// it and the key that asked for it.
func (f *File) Access(lookup SecretLookup) (Access, error) {
	if lookup == nil {
		lookup = EnvSecret
	}
	resolve := func(what, name string) (string, error) {
		v, ok, err := lookup(name)
		switch {
		case err != nil:
			return "", fmt.Errorf("%s: token_from_env: %w", what, err)
		case !ok || v == "":
			return "", fmt.Errorf("%s: token_from_env: %s is not set (or %s_FILE)", what, name, name)
		}
		return v, nil
	}
	a := Access{SubscriptionTokens: map[string]string{}}
	for _, s := range f.Subscriptions {
		if s.TokenFromEnv == "" {
			continue
		}
		t, err := resolve(fmt.Sprintf("subscription %q", s.Name), s.TokenFromEnv)
		if err != nil {
			return Access{}, err
		}
		a.SubscriptionTokens[s.Name] = t
	}
	for _, p := range f.Publishers {
		t, err := resolve(fmt.Sprintf("publisher %q", p.Name), p.TokenFromEnv)
		if err != nil {
			return Access{}, err
		}
		a.Publishers = append(a.Publishers, PublisherToken{Publisher: p, Token: t})
	}
	return a, nil
}
