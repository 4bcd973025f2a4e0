package webhook

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestParseExtractor(t *testing.T) {
	doc := `{"id":"a","n":12345678901234567890,"ok":true,"nil":null,"obj":{"k":"v","a.b":"dotted","x]y":"br"},"list":[{"id":"l0"},"s1"],"empty":""}`
	var body any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Event-Id": {"h1", "h2"}}
	tests := []struct {
		spec    string
		want    string
		found   bool
		wantErr bool
	}{
		{spec: "header:X-Event-Id", want: "h1", found: true},
		{spec: "header:x-event-id", want: "h1", found: true},
		{spec: "header:X-Missing"},
		{spec: "json:$.id", want: "a", found: true},
		{spec: "json:$.n", want: "12345678901234567890", found: true},
		{spec: "json:$.ok", want: "true", found: true},
		{spec: "json:$.nil"},
		{spec: "json:$.obj"},
		{spec: "json:$.empty"},
		{spec: "json:$.obj.k", want: "v", found: true},
		{spec: `json:$.obj["a.b"]`, want: "dotted", found: true},
		{spec: `json:$.obj['x]y']`, want: "br", found: true},
		{spec: "json:$.list[0].id", want: "l0", found: true},
		{spec: "json:$.list[1]", want: "s1", found: true},
		{spec: "json:$.list[2]"},
		{spec: "json:$.id.deeper"},
		{spec: "json:$.list.id"},
		{spec: "json:$[0]"},
		{spec: "json", wantErr: true},
		{spec: "query:id", wantErr: true},
		{spec: "header:", wantErr: true},
		{spec: "header:Bad Name", wantErr: true},
		{spec: "json:id", wantErr: true},
		{spec: "json:$", wantErr: true},
		{spec: "json:$.", wantErr: true},
		{spec: "json:$..id", wantErr: true},
		{spec: "json:$.a[", wantErr: true},
		{spec: "json:$.a[-1]", wantErr: true},
		{spec: "json:$.a[x]", wantErr: true},
		{spec: `json:$["a"`, wantErr: true},
		{spec: `json:$["a"x]`, wantErr: true},
		{spec: "json:$id", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			e, err := ParseExtractor(tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseExtractor error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if e.String() != tt.spec {
				t.Errorf("String() = %q", e.String())
			}
			got, found := e.Extract(h, body)
			if got != tt.want || found != tt.found {
				t.Fatalf("Extract = %q, %v; want %q, %v", got, found, tt.want, tt.found)
			}
		})
	}
}
