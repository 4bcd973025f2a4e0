package restgw_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

// TestWriteErrorMatchesSpec: the error body is hookmesh.admin.v1.ErrorResponse,
// the message the OpenAPI document names for every error response; a strict
// protojson decode fails on any key the proto (and so the document) lacks.
func TestWriteErrorMatchesSpec(t *testing.T) {
	w := httptest.NewRecorder()
	restgw.WriteError(w, http.StatusNotFound, "not_found", "no event evt_9")
	var got adminv1.ErrorResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q is not an ErrorResponse: %v", w.Body.String(), err)
	}
	if got.GetError().GetCode() != "not_found" || got.GetError().GetMessage() != "no event evt_9" {
		t.Fatalf("decoded %v", &got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}
