package compose_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/services/email/internal/compose"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

var (
	date = time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC)
	from = mail.Address{Name: "hookmesh", Address: "noreply@example.com"}
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

type goldenCase struct {
	name  string
	draft email.Draft
	// wantText and wantHTML must appear in the decoded parts.
	wantText, wantHTML []string
	// notHTML must not appear in the decoded HTML part (unescaped user data).
	notHTML []string
}

func cases(t *testing.T) []goldenCase {
	loc := berlin(t)
	start := time.Date(2024, 3, 4, 0, 0, 0, 0, loc)
	return []goldenCase{
		{
			name: "welcome",
			draft: email.Draft{Kind: email.KindWelcome, To: []mail.Address{{Name: "Ada Lovelace", Address: "ada@example.com"}},
				Data: email.WelcomeData{Name: "Ada Lovelace", Email: "ada@example.com", UserID: "42"}},
			wantText: []string{"Hi Ada Lovelace,", "User id: 42", "ada@example.com"},
			wantHTML: []string{"<h1 style=\"font-size:20px;\">Hi Ada Lovelace,</h1>", "<td>42</td>"},
		},
		{
			name: "welcome_hostile_name",
			draft: email.Draft{Kind: email.KindWelcome, To: []mail.Address{{Name: "Zoë <script>alert(1)</script>", Address: "zoe@example.com"}},
				Data: email.WelcomeData{Name: "Zoë <script>alert(1)</script>\r\nBcc: evil@example.com", Email: "zoe@example.com", UserID: "u-1"}},
			wantText: []string{"Hi Zoë <script>alert(1)</script>"},
			wantHTML: []string{"Zoë &lt;script&gt;alert(1)&lt;/script&gt;"},
			notHTML:  []string{"<script>"},
		},
		{
			name: "verify_email",
			draft: email.Draft{Kind: email.KindVerifyEmail, To: []mail.Address{{Name: "Ada", Address: "ada@new.example.com"}},
				Data: email.VerifyData{Name: "Ada", Email: "ada@new.example.com", UserID: "42",
					Link: "https://api.example.com/v1/email/verify?token=v1.abc.def", Expires: date.Add(48 * time.Hour)}},
			wantText: []string{"https://api.example.com/v1/email/verify?token=v1.abc.def", "expires 7 Mar 2024 09:00 UTC"},
			wantHTML: []string{`href="https://api.example.com/v1/email/verify?token=v1.abc.def"`},
		},
		{
			name: "verify_email_hostile_link",
			draft: email.Draft{Kind: email.KindVerifyEmail, To: []mail.Address{{Address: "a@example.com"}},
				Data: email.VerifyData{Email: "a@example.com", UserID: "1", Link: `javascript:alert("x")`, Expires: date}},
			wantHTML: []string{`href="#ZgotmplZ"`},
		},
		{
			name: "order_confirmation",
			draft: email.Draft{Kind: email.KindOrderConfirmation, To: []mail.Address{{Address: "bob@example.com"}},
				Data: email.OrderData{OrderID: "1001", Email: "bob@example.com", TrackingNumber: "TRK123456", Total: "59.97",
					Items: []email.Item{{SKU: "MUG-1", Quantity: 2, Price: "9.99"}, {SKU: "TEE-M", Name: "T-shirt & co", Quantity: 1, Price: "39.99"}}}},
			wantText: []string{"Hi there,", "order 1001 is on its way", "Tracking number: TRK123456", "2 x MUG-1  @ 9.99", "Total: 59.97"},
			wantHTML: []string{"T-shirt &amp; co", "<strong>59.97</strong>"},
		},
		{
			name: "back_order",
			draft: email.Draft{Kind: email.KindBackOrder, To: []mail.Address{{Name: "Bob", Address: "bob@example.com"}},
				Data: email.BackOrderData{OrderID: "1002", Name: "Bob", Email: "bob@example.com",
					Missing: []email.MissingItem{{SKU: "MUG-1", Requested: 5, Available: 2}, {SKU: "CAP", Available: -1}}}},
			wantText: []string{"order 1002", "MUG-1: 5 ordered, 2 in stock", "  CAP\r\n"},
			wantHTML: []string{"<li>MUG-1: 5 ordered, 2 in stock</li>", "<li>CAP</li>"},
		},
		{
			name: "daily_report",
			draft: email.Draft{Kind: email.KindDailyReport, To: []mail.Address{{Address: "ops@example.com"}, {Address: "ceo@example.com"}},
				Data: email.ReportData{Period: email.PeriodDaily, Start: start, End: start.AddDate(0, 0, 1), TimeZone: "Europe/Berlin",
					Figures: []email.Figure{{Label: "user_registered", Value: "12"}, {Label: "order_completed", Value: "3"}}}},
			wantText: []string{"Daily report for Mon 4 Mar 2024 (Europe/Berlin)", "user_registered: 12", "4 Mar 2024 00:00 CET until 5 Mar 2024 00:00 CET"},
			wantHTML: []string{"<td style=\"padding:2px 16px 2px 0;\">order_completed</td>"},
		},
		{
			name: "weekly_report_empty",
			draft: email.Draft{Kind: email.KindWeeklyReport, To: []mail.Address{{Address: "ops@example.com"}},
				Data: email.ReportData{Period: email.PeriodWeekly, Start: start.AddDate(0, 0, -7), End: start, TimeZone: "Europe/Berlin"}},
			wantText: []string{"Weekly report for Mon 26 Feb 2024 to Sun 3 Mar 2024", "No figures for this period."},
			wantHTML: []string{"<p>No figures for this period.</p>"},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	c, err := compose.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases(t) {
		t.Run(tc.name, func(t *testing.T) {
			key := email.MessageKey("hasura", "evt-"+tc.name, tc.draft.Kind)
			h := email.Header{From: from, MessageID: key + "@example.com", Date: date, Event: email.EventRef{Source: "hasura", ID: "evt-" + tc.name}}
			r, err := c.Render(tc.draft, h)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden := filepath.Join("testdata", tc.name+".golden.eml")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(golden, r.Raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with UPDATE_GOLDEN=1 to create): %v", err)
			}
			if !bytes.Equal(r.Raw, want) {
				t.Errorf("rendered message differs from %s (UPDATE_GOLDEN=1 refreshes)\n got:\n%s", golden, r.Raw)
			}
			again, err := c.Render(tc.draft, h)
			if err != nil || !bytes.Equal(again.Raw, r.Raw) {
				t.Errorf("rendering twice gave different bytes (err %v)", err)
			}

			msg := parse(t, r.Raw)
			if got := msg.header.Get("Message-Id"); got != "<"+h.MessageID+">" {
				t.Errorf("Message-ID = %q", got)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.header.Get("Subject"))
			if err != nil || subject != r.Subject {
				t.Errorf("Subject decodes to %q (%v), want %q", subject, err, r.Subject)
			}
			tos, err := msg.header.AddressList("To")
			if err != nil || len(tos) != len(tc.draft.To) {
				t.Fatalf("To = %v (%v), want %d addresses", tos, err, len(tc.draft.To))
			}
			for i, a := range tos {
				if a.Address != tc.draft.To[i].Address || a.Name != tc.draft.To[i].Name {
					t.Errorf("To[%d] = %q <%s>, want %q <%s>", i, a.Name, a.Address, tc.draft.To[i].Name, tc.draft.To[i].Address)
				}
			}
			head, _, _ := strings.Cut(string(r.Raw), "\r\n\r\n")
			if len(msg.header["Bcc"]) != 0 || strings.Contains(head, "\r\nBcc:") {
				t.Error("user data injected a header")
			}
			for _, s := range tc.wantText {
				if !strings.Contains(msg.text, s) {
					t.Errorf("text part lacks %q:\n%s", s, msg.text)
				}
			}
			for _, s := range tc.wantHTML {
				if !strings.Contains(msg.html, s) {
					t.Errorf("html part lacks %q:\n%s", s, msg.html)
				}
			}
			for _, s := range tc.notHTML {
				if strings.Contains(msg.html, s) {
					t.Errorf("html part contains unescaped %q", s)
				}
			}
			for i, line := range strings.Split(string(r.Raw), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line %d is %d bytes long", i, len(line))
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	c, err := compose.New()
	if err != nil {
		t.Fatal(err)
	}
	h := email.Header{From: from, MessageID: "x@example.com", Date: date}
	for _, tc := range []struct {
		name  string
		draft email.Draft
	}{
		{"unknown kind", email.Draft{Kind: "nope", To: []mail.Address{{Address: "a@example.com"}}, Data: email.WelcomeData{}}},
		{"wrong data", email.Draft{Kind: email.KindWelcome, To: []mail.Address{{Address: "a@example.com"}}, Data: email.OrderData{}}},
		{"no recipients", email.Draft{Kind: email.KindWelcome, Data: email.WelcomeData{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Render(tc.draft, h); err == nil {
				t.Fatal("Render succeeded")
			}
		})
	}
}

func TestLongSubjectIsFolded(t *testing.T) {
	c, err := compose.New()
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("Ünïcødé ", 12)
	r, err := c.Render(email.Draft{Kind: email.KindWelcome, To: []mail.Address{{Name: name, Address: "a@example.com"}},
		Data: email.WelcomeData{Name: name, Email: "a@example.com", UserID: "1"}}, email.Header{From: from, MessageID: "x@example.com", Date: date})
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(r.Raw), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if len(line) > 100 {
			t.Errorf("header line of %d bytes: %q", len(line), line)
		}
	}
	msg := parse(t, r.Raw)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.header.Get("Subject"))
	if err != nil || subject != r.Subject {
		t.Errorf("folded subject decodes to %q (%v), want %q", subject, err, r.Subject)
	}
}

type parsed struct {
	header     mail.Header
	text, html string
}

// parse reads a message back the way a mail client would.
func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", m.Header.Get("Content-Type"), err)
	}
	out := parsed{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatalf("decode part: %v", err)
		}
		ct := p.Header.Get("Content-Type")
		types = append(types, ct)
		switch ct {
		case "text/plain; charset=utf-8":
			out.text = string(body)
		case "text/html; charset=utf-8":
			out.html = string(body)
		}
	}
	if len(types) != 2 || out.text == "" || out.html == "" {
		t.Fatalf("parts %v, want text then html", types)
	}
	return out
}

// FuzzRender: whatever a user puts in their name, the message parses, has
// exactly the headers we wrote, and decodes back to the subject we rendered.
func FuzzRender(f *testing.F) {
	c, err := compose.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Ada", "42")
	f.Add("Zoë <script>\r\nBcc: x@example.com", "1\r\nX: y")
	f.Add("=?utf-8?q?=0D=0A?=", "--=_hookmesh_")
	f.Fuzz(func(t *testing.T, name, id string) {
		r, err := c.Render(email.Draft{Kind: email.KindWelcome, To: []mail.Address{{Name: name, Address: "a@example.com"}},
			Data: email.WelcomeData{Name: name, Email: "a@example.com", UserID: id}},
			email.Header{From: from, MessageID: "k@example.com", Date: date, Event: email.EventRef{Source: "hasura", ID: id}})
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(r.Raw))
		if err != nil {
			t.Fatalf("unparseable message: %v", err)
		}
		want := map[string]bool{"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true,
			"Mime-Version": true, "Content-Type": true, "Auto-Submitted": true, "X-Hookmesh-Event": true}
		for k := range m.Header {
			if !want[k] {
				t.Fatalf("unexpected header %q", k)
			}
		}
		if tos, err := m.Header.AddressList("To"); err != nil || len(tos) != 1 || tos[0].Address != "a@example.com" {
			t.Fatalf("To = %v (%v)", tos, err)
		}
		if s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil || s != r.Subject {
			t.Fatalf("Subject decodes to %q (%v), want %q", s, err, r.Subject)
		}
		if _, params, err := mime.ParseMediaType(m.Header.Get("Content-Type")); err != nil || params["boundary"] == "" {
			t.Fatalf("Content-Type: %v", err)
		}
	})
}
