package webhook

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// GitHub headers.
const (
	GitHubSignatureHeader = "X-Hub-Signature-256" // sha256=<hex>
	GitHubEventHeader     = "X-GitHub-Event"
	GitHubDeliveryHeader  = "X-GitHub-Delivery"
)

// GitHubConfig configures a `kind: github` source.
type GitHubConfig struct {
	// Secrets are webhook secrets (their UTF-8 bytes are the key). Any may match.
	Secrets []string
	// Now stamps events (GitHub sends no event time); nil means time.Now.
	Now func() time.Time
}

// Validate reports a configuration that cannot verify anything.
func (c GitHubConfig) Validate() error {
	if _, err := rawKeys(c.Secrets); err != nil {
		return fmt.Errorf("github source: %w", err)
	}
	return nil
}

// GitHub verifies X-Hub-Signature-256 (the legacy SHA-1 X-Hub-Signature is never
// accepted, not even as a fallback), answers ping, and maps deliveries to
// github.<event>[.<action>] with X-GitHub-Delivery as id. JSON and form bodies
// (payload=<json>) are both accepted.
type GitHub struct {
	keys [][]byte
	now  func() time.Time
}

var _ Source = (*GitHub)(nil)

// NewGitHub validates cfg and fills its defaults.
func NewGitHub(cfg GitHubConfig) (*GitHub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := rawKeys(cfg.Secrets)
	return &GitHub{keys: keys, now: clock(cfg.Now)}, nil
}

// parsePrefixedDigest splits "<scheme>=<digest>". No "=" (or nothing before it) is
// malformed; another scheme than want is unsupported.
func parsePrefixedDigest(headerName, v, want string) (string, error) {
	scheme, digest, ok := strings.Cut(v, "=")
	if !ok || scheme == "" {
		return "", Unauthorized(CodeMalformedHeader, headerName+" is not "+want+"=<signature>")
	}
	if scheme != want {
		return "", Unauthorized(CodeUnsupportedScheme, headerName+" uses an unsupported scheme (only "+want+" is accepted)")
	}
	return digest, nil
}

// Verify checks X-Hub-Signature-256 = "sha256=" + hex(HMAC-SHA256(secret, body)).
func (g *GitHub) Verify(req *Request, _ time.Time) error {
	v := header(req.Header, GitHubSignatureHeader)
	if v == "" {
		return Unauthorized(CodeMissingHeader, "header "+GitHubSignatureHeader+" is missing")
	}
	digest, err := parsePrefixedDigest(GitHubSignatureHeader, v, "sha256")
	if err != nil {
		return err
	}
	want := make([][]byte, len(g.keys))
	for i, k := range g.keys {
		want[i] = hexBytes(macSum(sha256.New, k, req.Body))
	}
	if !anyEqual([]string{digest}, want) {
		return Unauthorized(CodeSignatureMismatch, GitHubSignatureHeader+" does not match a configured secret")
	}
	return nil
}

// AcceptsContentType lets the gateway answer 415 before reading the body; Normalize
// applies the same rule.
func (g *GitHub) AcceptsContentType(mediaType string) bool {
	return isJSONMedia(mediaType) || mediaType == mediaForm
}

// Normalize answers ping without an event and maps every other delivery.
func (g *GitHub) Normalize(req *Request) (Result, error) {
	var obj map[string]any
	switch {
	case isJSONMedia(req.ContentType):
		var err error
		if obj, err = decodeObject(req.Body, "github"); err != nil {
			return Result{}, err
		}
	case req.ContentType == mediaForm:
		vals, err := parseForm(req.Body)
		if err != nil {
			return Result{}, err
		}
		var found bool
		if obj, found, err = formPayloadJSON(vals, "github"); err != nil {
			return Result{}, err
		} else if !found {
			return Result{}, invalidPayload("github form body has no payload field")
		}
	default:
		return Result{}, unsupportedMedia(req.ContentType, mediaJSON+" or "+mediaForm)
	}
	event := header(req.Header, GitHubEventHeader)
	if event == "" {
		return Result{}, invalidPayload("header %s is missing", GitHubEventHeader)
	}
	if event == "ping" {
		return Result{Reply: []byte(`{"status":"pong"}`), ReplyContentType: mediaJSON}, nil
	}
	delivery := header(req.Header, GitHubDeliveryHeader)
	if delivery == "" {
		return Result{}, invalidPayload("header %s is missing", GitHubDeliveryHeader)
	}
	providerType := event
	typ := "github." + event
	if action, ok := str(obj["action"]); ok {
		providerType += "." + action
		typ += "." + action
	}
	ev, err := providerEvent{
		provider:     KindGitHub,
		providerType: providerType,
		id:           delivery,
		typ:          typ,
		subject:      githubSubject(obj),
		time:         g.now().UTC(),
		payload:      obj,
		headers: keepHeaders(req.Header, append([]string{GitHubEventHeader, GitHubDeliveryHeader,
			"X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-ID", "X-GitHub-Hook-Installation-Target-Type",
			"X-GitHub-Enterprise-Host", "X-GitHub-Enterprise-Version"}, commonHeaders...)...),
	}.build(req)
	if err != nil {
		return Result{}, err
	}
	return Result{Event: ev}, nil
}

// githubSubject names the repository (owner/name), narrowed to the pull request,
// issue or discussion the delivery is about: "octocat/Hello-World/pull/1347".
// Without a repository: the organization, then the installation.
func githubSubject(obj map[string]any) string {
	base, ok := str(lookup(obj, "repository", "full_name"))
	if !ok {
		if org, ok := str(lookup(obj, "organization", "login")); ok {
			return org
		}
		if id, ok := scalar(lookup(obj, "installation", "id")); ok {
			return "installation/" + id
		}
		return ""
	}
	for _, item := range []struct{ key, path string }{
		{"pull_request", "pull"}, {"issue", "issues"}, {"discussion", "discussions"},
	} {
		if n, ok := lookup(obj, item.key, "number").(interface{ String() string }); ok {
			if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				return base + "/" + item.path + "/" + n.String()
			}
		}
	}
	return base
}
