package restgw

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON error shape of every hookmesh HTTP API.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	// Code is a stable lower-case identifier ("not_found", "signature_mismatch").
	Code string `json:"code"`
	// Message is for humans.
	Message string `json:"message"`
}

// WriteError writes {"error":{"code":code,"message":message}} with httpStatus.
func WriteError(w http.ResponseWriter, httpStatus int, code, message string) {
	body, err := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
	if err != nil { // unreachable for two strings; keep the shape anyway
		body = []byte(`{"error":{"code":"internal","message":"error encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(body, '\n'))
}
