package email

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// tokenVersion prefixes every token, so the format can change without
// accepting old tokens under new rules.
const tokenVersion = "v1"

// minSecretLen is the shortest EMAIL_TOKEN_SECRET accepted (bytes).
const minSecretLen = 16

// Tokens signs and checks verification tokens: HMAC-SHA256 over the user id,
// the address and an expiry, so the verify endpoint needs no server-side state.
type Tokens struct {
	secret []byte
	ttl    time.Duration
}

// TokenClaims is what a verification token asserts.
type TokenClaims struct {
	UserID  string
	Email   string
	Expires time.Time
}

type tokenBody struct {
	User    string `json:"u"`
	Email   string `json:"e"`
	Expires int64  `json:"x"`
}

// NewTokens returns a signer with the given secret and lifetime.
func NewTokens(secret []byte, ttl time.Duration) (*Tokens, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("token secret: %w: at least %d bytes", ErrNotConfigured, minSecretLen)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("token lifetime: %w: must be positive", ErrInvalid)
	}
	return &Tokens{secret: append([]byte(nil), secret...), ttl: ttl}, nil
}

// TTL is how long a new token stays valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Sign returns a token for userID and addr valid until now+TTL, and that expiry.
func (t *Tokens) Sign(userID, addr string, now time.Time) (string, time.Time, error) {
	exp := now.Add(t.ttl).Truncate(time.Second)
	body, err := json.Marshal(tokenBody{User: userID, Email: addr, Expires: exp.Unix()})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("encode token: %w", err)
	}
	payload := tokenVersion + "." + base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(t.mac(payload)), exp, nil
}

// Verify checks the signature first, then the expiry against now. Errors wrap
// ErrInvalid (malformed, bad signature) or ErrExpired.
func (t *Tokens) Verify(token string, now time.Time) (TokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != tokenVersion {
		return TokenClaims{}, fmt.Errorf("verification token: %w: malformed", ErrInvalid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return TokenClaims{}, fmt.Errorf("verification token: %w: malformed signature", ErrInvalid)
	}
	if !hmac.Equal(sig, t.mac(parts[0]+"."+parts[1])) {
		return TokenClaims{}, fmt.Errorf("verification token: %w: bad signature", ErrInvalid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return TokenClaims{}, fmt.Errorf("verification token: %w: malformed body", ErrInvalid)
	}
	var body tokenBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return TokenClaims{}, fmt.Errorf("verification token: %w: malformed body", ErrInvalid)
	}
	if body.User == "" || body.Email == "" || body.Expires == 0 {
		return TokenClaims{}, fmt.Errorf("verification token: %w: incomplete", ErrInvalid)
	}
	claims := TokenClaims{UserID: body.User, Email: body.Email, Expires: time.Unix(body.Expires, 0).UTC()}
	if !now.Before(claims.Expires) {
		return TokenClaims{}, fmt.Errorf("verification token: %w", ErrExpired)
	}
	return claims, nil
}

func (t *Tokens) mac(payload string) []byte {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
