// Package compose renders drafts into complete RFC 5322 messages:
// multipart/alternative with a text/template plain part and an html/template
// HTML part (user data HTML-escaped), quoted-printable bodies, encoded and
// folded headers. Output is deterministic for a given draft and header, which
// is what makes a resend byte-identical and golden files possible.
package compose

import (
	"bytes"
	"embed"
	"fmt"
	htemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	ttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

// templateOf names the template pair of each kind.
var templateOf = map[email.Kind]string{
	email.KindWelcome:           "welcome",
	email.KindVerifyEmail:       "verify_email",
	email.KindOrderConfirmation: "order_confirmation",
	email.KindBackOrder:         "back_order",
	email.KindDailyReport:       "report",
	email.KindWeeklyReport:      "report",
}

// dataOf checks that a draft's data has the type its template expects.
func dataOf(k email.Kind, data any) bool {
	switch k {
	case email.KindWelcome:
		_, ok := data.(email.WelcomeData)
		return ok
	case email.KindVerifyEmail:
		_, ok := data.(email.VerifyData)
		return ok
	case email.KindOrderConfirmation:
		_, ok := data.(email.OrderData)
		return ok
	case email.KindBackOrder:
		_, ok := data.(email.BackOrderData)
		return ok
	case email.KindDailyReport, email.KindWeeklyReport:
		_, ok := data.(email.ReportData)
		return ok
	}
	return false
}

var funcs = map[string]any{
	"date":     func(t time.Time) string { return t.Format("Mon 2 Jan 2006") },
	"lastday":  func(end time.Time) string { return end.AddDate(0, 0, -1).Format("Mon 2 Jan 2006") },
	"datetime": func(t time.Time) string { return t.Format("2 Jan 2006 15:04 MST") },
}

// Composer renders drafts. It is safe for concurrent use.
type Composer struct {
	text map[string]*ttemplate.Template
	html map[string]*htemplate.Template
}

// New parses the embedded templates.
func New() (*Composer, error) {
	c := &Composer{text: map[string]*ttemplate.Template{}, html: map[string]*htemplate.Template{}}
	for _, name := range templateOf {
		if _, ok := c.text[name]; ok {
			continue
		}
		t, err := ttemplate.New(name).Funcs(funcs).Option("missingkey=error").ParseFS(templateFS, "templates/"+name+".txt")
		if err != nil {
			return nil, fmt.Errorf("parse %s text template: %w", name, err)
		}
		h, err := htemplate.New(name).Funcs(funcs).Option("missingkey=error").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse %s html template: %w", name, err)
		}
		c.text[name], c.html[name] = t, h
	}
	return c, nil
}

// Render implements email.Renderer.
func (c *Composer) Render(d email.Draft, h email.Header) (email.Rendered, error) {
	name, ok := templateOf[d.Kind]
	if !ok || !dataOf(d.Kind, d.Data) {
		return email.Rendered{}, fmt.Errorf("render %q: %w: unknown kind or wrong data", d.Kind, email.ErrInvalid)
	}
	if len(d.To) == 0 {
		return email.Rendered{}, fmt.Errorf("render %s: %w: no recipients", d.Kind, email.ErrInvalid)
	}
	var subj, text, html bytes.Buffer
	if err := c.text[name].ExecuteTemplate(&subj, "subject", d.Data); err != nil {
		return email.Rendered{}, fmt.Errorf("render %s subject: %w", d.Kind, err)
	}
	subject := oneLine(subj.String())
	if err := c.text[name].ExecuteTemplate(&text, "text", d.Data); err != nil {
		return email.Rendered{}, fmt.Errorf("render %s text: %w", d.Kind, err)
	}
	page := struct {
		Subject string
		Data    any
	}{subject, d.Data}
	if err := c.html[name].ExecuteTemplate(&html, "layout", page); err != nil {
		return email.Rendered{}, fmt.Errorf("render %s html: %w", d.Kind, err)
	}

	var b bytes.Buffer
	to := make([]string, len(d.To))
	for i, a := range d.To {
		to[i] = displayAddress(a)
	}
	header(&b, "From", displayAddress(h.From))
	header(&b, "To", strings.Join(to, ", "))
	header(&b, "Subject", encodeText(subject))
	header(&b, "Date", h.Date.Format(time.RFC1123Z))
	header(&b, "Message-ID", "<"+h.MessageID+">")
	header(&b, "MIME-Version", "1.0")
	// "=_" never occurs in quoted-printable output, so no body can contain the boundary.
	boundary := "=_hookmesh_" + strings.SplitN(h.MessageID, "@", 2)[0]
	header(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary}))
	header(&b, "Auto-Submitted", "auto-generated")
	header(&b, "X-Hookmesh-Event", encodeText(oneLine(h.Event.Source+"/"+h.Event.ID)))
	b.WriteString("\r\n")

	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return email.Rendered{}, fmt.Errorf("render %s: boundary: %w", d.Kind, err)
	}
	for _, part := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return email.Rendered{}, fmt.Errorf("render %s: part: %w", d.Kind, err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write(part.body); err != nil {
			return email.Rendered{}, fmt.Errorf("render %s: encode: %w", d.Kind, err)
		}
		if err := qp.Close(); err != nil {
			return email.Rendered{}, fmt.Errorf("render %s: encode: %w", d.Kind, err)
		}
	}
	if err := mw.Close(); err != nil {
		return email.Rendered{}, fmt.Errorf("render %s: close: %w", d.Kind, err)
	}
	return email.Rendered{Subject: subject, Raw: b.Bytes()}, nil
}

// oneLine turns any run of whitespace or control characters into one space, so
// nothing user-supplied can end a header line.
// displayAddress formats an address whose display name came from user data:
// invalid UTF-8 would make net/mail write a header that does not parse back.
// Non-ASCII names are always B-encoded: net/mail Q-encodes some (a backslash
// stays bare) into a phrase it cannot parse back.
func displayAddress(a mail.Address) string {
	a.Name = oneLine(strings.ToValidUTF8(a.Name, "\uFFFD"))
	for _, r := range a.Name {
		if r < 0x20 || r > 0x7e {
			return mime.BEncoding.Encode("utf-8", a.Name) + " " + (&mail.Address{Address: a.Address}).String()
		}
	}
	return a.String()
}

func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// encodeText encodes an unstructured header value (RFC 2047). Unlike
// mime.QEncoding it also encodes ASCII text that contains "=?", so user data
// cannot smuggle in an encoded-word that decodes to something else.
func encodeText(s string) string {
	if !strings.Contains(s, "=?") {
		return mime.QEncoding.Encode("utf-8", s)
	}
	const chunk = 20 // bytes of input per encoded-word, well under 75 encoded
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:]) // whole characters per word
			if n > 0 && n+size > chunk {
				break
			}
			n += size
		}
		var w strings.Builder
		w.WriteString("=?utf-8?q?")
		for _, c := range []byte(s[:n]) {
			switch {
			case c == ' ':
				w.WriteByte('_')
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '!', c == '*', c == '+', c == '-', c == '/':
				w.WriteByte(c)
			default:
				fmt.Fprintf(&w, "=%02X", c)
			}
		}
		w.WriteString("?=")
		words = append(words, w.String())
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// maxLine is RFC 5322's recommended header line length.
const maxLine = 78

// header writes "Name: value" folded at spaces to keep lines near maxLine.
// value must already be a single line of ASCII.
func header(b *bytes.Buffer, name, value string) {
	line := name + ":"
	for i, word := range strings.Split(value, " ") {
		if i > 0 && len(line)+1+len(word) > maxLine {
			b.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + word
	}
	b.WriteString(line + "\r\n")
}
