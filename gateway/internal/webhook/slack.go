package webhook

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Slack headers.
const (
	SlackSignatureHeader = "X-Slack-Signature"         // v0=<hex>
	SlackTimestampHeader = "X-Slack-Request-Timestamp" // Unix seconds
)

// SlackConfig configures a `kind: slack` source.
type SlackConfig struct {
	// Secrets are signing secrets (their UTF-8 bytes are the key, not hex-decoded).
	// Any may match.
	Secrets []string
	// Tolerance is the timestamp window, both directions; 0 means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock for events without a time of their own; nil means time.Now.
	Now func() time.Time
}

// Validate reports a configuration that cannot verify anything.
func (c SlackConfig) Validate() error {
	if _, err := rawKeys(c.Secrets); err != nil {
		return fmt.Errorf("slack source: %w", err)
	}
	if _, err := tolerance(c.Tolerance); err != nil {
		return fmt.Errorf("slack source: %w", err)
	}
	return nil
}

// Slack verifies the v0 request signature and handles the three request shapes
// Slack posts to one URL: Events API JSON (url_verification answered with its
// challenge, event_callback → slack.<event type>), interactivity (form field
// payload=<json> → slack.interactive.<type>) and slash commands (form fields →
// slack.command.<name>).
type Slack struct {
	keys [][]byte
	tol  time.Duration
	now  func() time.Time
}

var _ Source = (*Slack)(nil)

// NewSlack validates cfg and fills its defaults.
func NewSlack(cfg SlackConfig) (*Slack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := rawKeys(cfg.Secrets)
	tol, _ := tolerance(cfg.Tolerance)
	return &Slack{keys: keys, tol: tol, now: clock(cfg.Now)}, nil
}

// slackSignature is a parsed pair of Slack signature headers.
type slackSignature struct {
	rawTimestamp string // signed as sent
	timestamp    int64
	digest       string
}

// parseSlackHeaders checks presence and shape of both headers, then the scheme.
func parseSlackHeaders(ts, sig string) (slackSignature, error) {
	if ts == "" {
		return slackSignature{}, Unauthorized(CodeMissingHeader, "header "+SlackTimestampHeader+" is missing")
	}
	if sig == "" {
		return slackSignature{}, Unauthorized(CodeMissingHeader, "header "+SlackSignatureHeader+" is missing")
	}
	n, ok := parseUnix(ts)
	if !ok {
		return slackSignature{}, Unauthorized(CodeMalformedHeader, SlackTimestampHeader+" is not a Unix time in seconds")
	}
	digest, err := parsePrefixedDigest(SlackSignatureHeader, sig, "v0")
	if err != nil {
		return slackSignature{}, err
	}
	return slackSignature{rawTimestamp: ts, timestamp: n, digest: digest}, nil
}

// Verify checks X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret, "v0:<ts>:<body>"))
// with |now - ts| within the tolerance.
func (s *Slack) Verify(req *Request, now time.Time) error {
	sig, err := parseSlackHeaders(header(req.Header, SlackTimestampHeader), header(req.Header, SlackSignatureHeader))
	if err != nil {
		return err
	}
	if err := checkWindow(sig.timestamp, now, s.tol); err != nil {
		return err
	}
	prefix := []byte("v0:" + sig.rawTimestamp + ":")
	want := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		want[i] = hexBytes(macSum(sha256.New, k, prefix, req.Body))
	}
	if !anyEqual([]string{sig.digest}, want) {
		return Unauthorized(CodeSignatureMismatch, SlackSignatureHeader+" does not match a configured secret")
	}
	return nil
}

var slackKeepHeaders = append([]string{SlackTimestampHeader, "X-Slack-Retry-Num", "X-Slack-Retry-Reason"}, commonHeaders...)

// AcceptsContentType lets the gateway answer 415 before reading the body; Normalize
// applies the same rule.
func (s *Slack) AcceptsContentType(mediaType string) bool {
	return isJSONMedia(mediaType) || mediaType == mediaForm
}

// Normalize dispatches on the body shape.
func (s *Slack) Normalize(req *Request) (Result, error) {
	switch {
	case isJSONMedia(req.ContentType):
		obj, err := decodeObject(req.Body, "slack")
		if err != nil {
			return Result{}, err
		}
		return s.eventsAPI(req, obj)
	case req.ContentType == mediaForm:
		return s.form(req)
	}
	return Result{}, unsupportedMedia(req.ContentType, mediaJSON+" or "+mediaForm)
}

// eventsAPI handles the Events API envelope.
func (s *Slack) eventsAPI(req *Request, obj map[string]any) (Result, error) {
	outer, _ := str(obj["type"])
	switch outer {
	case "url_verification":
		challenge, ok := str(obj["challenge"])
		if !ok {
			return Result{}, invalidPayload("slack url_verification has no challenge")
		}
		reply, err := json.Marshal(map[string]string{"challenge": challenge})
		if err != nil {
			return Result{}, fmt.Errorf("encode slack challenge: %w", err)
		}
		return Result{Reply: reply, ReplyContentType: mediaJSON}, nil
	case "event_callback":
		id, ok := str(obj["event_id"])
		if !ok {
			return Result{}, invalidPayload("slack event_callback has no event_id")
		}
		inner, ok := str(lookup(obj, "event", "type"))
		if !ok {
			return Result{}, invalidPayload("slack event_callback %s has no event.type", id)
		}
		at, ok := unixField(obj["event_time"])
		if !ok {
			at = s.now().UTC()
		}
		team, _ := str(obj["team_id"])
		ev, err := providerEvent{
			provider:     KindSlack,
			providerType: inner,
			id:           id,
			typ:          "slack." + inner,
			subject:      slackSubject(team, lookup(obj, "event", "channel"), lookup(obj, "event", "user")),
			time:         at,
			payload:      obj,
			headers:      keepHeaders(req.Header, slackKeepHeaders...),
		}.build(req)
		if err != nil {
			return Result{}, err
		}
		return Result{Event: ev}, nil
	case "app_rate_limited":
		// No event_id; one notice per app and minute, so that pair is the identity.
		app, _ := str(obj["api_app_id"])
		minute, ok := scalar(obj["minute_rate_limited"])
		if !ok {
			return Result{}, invalidPayload("slack app_rate_limited has no minute_rate_limited")
		}
		team, _ := str(obj["team_id"])
		at, _ := unixField(obj["minute_rate_limited"])
		ev, err := providerEvent{
			provider:     KindSlack,
			providerType: outer,
			id:           "rl_" + app + "_" + minute,
			typ:          "slack.app_rate_limited",
			subject:      team,
			time:         at,
			payload:      obj,
			headers:      keepHeaders(req.Header, slackKeepHeaders...),
		}.build(req)
		if err != nil {
			return Result{}, err
		}
		return Result{Event: ev}, nil
	case "":
		return Result{}, invalidPayload("slack body has no type")
	}
	return Result{}, invalidPayload("slack body type %.64q is not an Events API type", outer)
}

// form handles interactivity (payload=<json>), slash commands and ssl_check.
func (s *Slack) form(req *Request) (Result, error) {
	vals, err := parseForm(req.Body)
	if err != nil {
		return Result{}, err
	}
	if vals.Get("ssl_check") == "1" {
		// Slack's certificate probe for slash command URLs: answer 200, store nothing.
		return Result{Reply: []byte("ok"), ReplyContentType: "text/plain; charset=utf-8"}, nil
	}
	at := s.requestTime(req)
	payload, found, err := formPayloadJSON(vals, "slack")
	if err != nil {
		return Result{}, err
	}
	if found {
		typ, ok := str(payload["type"])
		if !ok {
			return Result{}, invalidPayload("slack interactivity payload has no type")
		}
		id, err := slackDerivedID(payload["trigger_id"])
		if err != nil {
			return Result{}, err
		}
		team, _ := str(lookup(payload, "team", "id"))
		channel := lookup(payload, "channel")
		if channel == nil {
			channel = lookup(payload, "view", "id")
		}
		ev, err := providerEvent{
			provider:     KindSlack,
			providerType: "interactive." + typ,
			id:           id,
			typ:          "slack.interactive." + typ,
			subject:      slackSubject(team, channel, lookup(payload, "user")),
			time:         at,
			payload:      payload,
			headers:      keepHeaders(req.Header, slackKeepHeaders...),
		}.build(req)
		if err != nil {
			return Result{}, err
		}
		return Result{Event: ev, AckEmpty: true}, nil
	}
	command := vals.Get("command")
	if command == "" {
		return Result{}, invalidPayload("slack form body is neither interactivity (payload) nor a slash command (command)")
	}
	name := strings.TrimPrefix(command, "/")
	if name == "" {
		return Result{}, invalidPayload("slack slash command has an empty name")
	}
	fields := formObject(vals)
	id, err := slackDerivedID(fields["trigger_id"])
	if err != nil {
		return Result{}, err
	}
	ev, err := providerEvent{
		provider:     KindSlack,
		providerType: "command." + name,
		id:           id,
		typ:          "slack.command." + name,
		subject:      slackSubject(vals.Get("team_id"), vals.Get("channel_id"), vals.Get("user_id")),
		time:         at,
		payload:      fields,
		headers:      keepHeaders(req.Header, slackKeepHeaders...),
	}.build(req)
	if err != nil {
		return Result{}, err
	}
	return Result{Event: ev, AckEmpty: true}, nil
}

// slackDerivedID: interactivity and slash commands carry no event_id; trigger_id is
// unique per user action and repeated on Slack's retries, so "trg_<trigger_id>" is
// the id (no "/" or ":", which would clash with REST paths). Payloads without one
// (view_closed, block_suggestion) get a UUIDv7.
func slackDerivedID(trigger any) (string, error) {
	if t, ok := str(trigger); ok {
		return "trg_" + t, nil
	}
	return newV7()
}

// requestTime is the verified X-Slack-Request-Timestamp, else now.
func (s *Slack) requestTime(req *Request) time.Time {
	if n, ok := parseUnix(header(req.Header, SlackTimestampHeader)); ok {
		return time.Unix(n, 0).UTC()
	}
	return s.now().UTC()
}

// slackSubject is "<team>/<channel>" or "<team>/<user>"; channel and user may be ids
// or objects with an id (channel_created, user_change, interactivity payloads).
func slackSubject(team string, channel, user any) string {
	pick := func(v any) string {
		if s, ok := str(v); ok {
			return s
		}
		s, _ := str(lookup(v, "id"))
		return s
	}
	entity := pick(channel)
	if entity == "" {
		entity = pick(user)
	}
	switch {
	case team == "":
		return entity
	case entity == "":
		return team
	}
	return team + "/" + entity
}
