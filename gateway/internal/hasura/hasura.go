// Package hasura turns Hasura event-trigger and scheduled-trigger webhook bodies into
// typed events (shared/reference/hasura-webhook-contract.md) and provides the hasura
// source kind, authenticated by a shared-secret header.
package hasura

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// maxIDLen bounds ids: they become part of de-duplication keys and headers.
const maxIDLen = 256

// Decode normalises one Hasura body (event trigger or scheduled trigger) into an event
// of the given source. The event keeps body as its original_body (not copied).
// Bad input is a *webhook.Error: malformed_json or invalid_payload.
func Decode(source string, body []byte) (*eventv1.Event, error) {
	root, err := parseJSON(body)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, webhook.BadRequest(webhook.CodeMalformedJSON, "body is not valid JSON: "+se.Error())
		}
		return nil, invalid(err.Error())
	}
	obj := root.GetStructValue()
	if obj == nil {
		return nil, invalid("body must be a JSON object")
	}
	f := obj.Fields
	var ev *eventv1.Event
	switch {
	case has(f, "event") || has(f, "table") || has(f, "trigger"):
		ev, err = tableEvent(f, body)
	case has(f, "scheduled_time") || has(f, "name") || has(f, "payload") || has(f, "comment"):
		ev, err = scheduledEvent(f)
	default:
		return nil, invalid("body is neither a Hasura event trigger nor a scheduled event (no event, table or scheduled_time)")
	}
	if err != nil {
		return nil, err
	}
	ev.Source = source
	ev.Datacontenttype = "application/json"
	ev.OriginalBody = body
	return ev, nil
}

func invalid(msg string) *webhook.Error {
	return webhook.BadRequest(webhook.CodeInvalidPayload, msg)
}

func has(f map[string]*structpb.Value, key string) bool {
	_, ok := f[key]
	return ok
}

// isNull reports a missing key or an explicit JSON null.
func isNull(v *structpb.Value) bool {
	if v == nil {
		return true
	}
	_, ok := v.Kind.(*structpb.Value_NullValue)
	return ok
}

func eventID(f map[string]*structpb.Value) (string, error) {
	v := f["id"]
	if isNull(v) {
		return "", invalid("id is missing")
	}
	s, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return "", invalid("id must be a string")
	}
	id := s.StringValue
	switch {
	case id == "":
		return "", invalid("id is empty")
	case len(id) > maxIDLen:
		return "", invalid("id is longer than " + strconv.Itoa(maxIDLen) + " bytes")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7f {
			return "", invalid("id contains a control character")
		}
	}
	return id, nil
}

// optString returns a string field, "" when missing or null, or an error naming it.
func optString(f map[string]*structpb.Value, key, name string) (string, error) {
	v := f[key]
	if isNull(v) {
		return "", nil
	}
	s, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return "", invalid(name + " must be a string")
	}
	return s.StringValue, nil
}

// optObject returns an object field, nil when missing or null, or an error naming it.
func optObject(f map[string]*structpb.Value, key, name string) (*structpb.Struct, error) {
	v := f[key]
	if isNull(v) {
		return nil, nil
	}
	s, ok := v.Kind.(*structpb.Value_StructValue)
	if !ok {
		return nil, invalid(name + " must be an object or null")
	}
	return s.StructValue, nil
}

func reqString(f map[string]*structpb.Value, key, name string) (string, error) {
	s, err := optString(f, key, name)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", invalid(name + " is missing")
	}
	return s, nil
}

var ops = map[string]eventv1.HasuraOperation{
	"INSERT": eventv1.HasuraOperation_HASURA_OPERATION_INSERT,
	"UPDATE": eventv1.HasuraOperation_HASURA_OPERATION_UPDATE,
	"DELETE": eventv1.HasuraOperation_HASURA_OPERATION_DELETE,
	"MANUAL": eventv1.HasuraOperation_HASURA_OPERATION_MANUAL,
}

var opNames = map[eventv1.HasuraOperation]string{
	eventv1.HasuraOperation_HASURA_OPERATION_INSERT: "insert",
	eventv1.HasuraOperation_HASURA_OPERATION_UPDATE: "update",
	eventv1.HasuraOperation_HASURA_OPERATION_DELETE: "delete",
	eventv1.HasuraOperation_HASURA_OPERATION_MANUAL: "manual",
}

func tableEvent(f map[string]*structpb.Value, body []byte) (*eventv1.Event, error) {
	id, err := eventID(f)
	if err != nil {
		return nil, err
	}
	table, err := optObject(f, "table", "table")
	if err != nil {
		return nil, err
	}
	if table == nil {
		return nil, invalid("table is missing")
	}
	schema, err := reqString(table.Fields, "schema", "table.schema")
	if err != nil {
		return nil, err
	}
	name, err := reqString(table.Fields, "name", "table.name")
	if err != nil {
		return nil, err
	}
	trigger, err := optObject(f, "trigger", "trigger")
	if err != nil {
		return nil, err
	}
	var triggerName string
	if trigger != nil {
		if triggerName, err = optString(trigger.Fields, "name", "trigger.name"); err != nil {
			return nil, err
		}
	}
	evObj, err := optObject(f, "event", "event")
	if err != nil {
		return nil, err
	}
	if evObj == nil {
		return nil, invalid("event is missing")
	}
	opName, err := reqString(evObj.Fields, "op", "event.op")
	if err != nil {
		return nil, err
	}
	op, ok := ops[opName]
	if !ok {
		return nil, invalid("event.op " + strconv.Quote(opName) + " is not INSERT, UPDATE, DELETE or MANUAL")
	}
	data, err := optObject(evObj.Fields, "data", "event.data")
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, invalid("event.data is missing")
	}
	oldRow, err := optObject(data.Fields, "old", "event.data.old")
	if err != nil {
		return nil, err
	}
	newRow, err := optObject(data.Fields, "new", "event.data.new")
	if err != nil {
		return nil, err
	}
	// Payload-column subsets may leave a row empty but never absent: INSERT and UPDATE
	// carry the new row (MSSQL sends old=null when the key changed), DELETE the old
	// one, MANUAL the caller's payload, which must be an object to be a row.
	switch op {
	case eventv1.HasuraOperation_HASURA_OPERATION_INSERT, eventv1.HasuraOperation_HASURA_OPERATION_UPDATE,
		eventv1.HasuraOperation_HASURA_OPERATION_MANUAL:
		if newRow == nil {
			return nil, invalid("event.data.new is missing for " + opName)
		}
	case eventv1.HasuraOperation_HASURA_OPERATION_DELETE:
		if oldRow == nil {
			return nil, invalid("event.data.old is missing for DELETE")
		}
	}

	payload := &eventv1.HasuraTableEvent{
		Op:          op,
		Schema:      schema,
		Table:       name,
		TriggerName: triggerName,
		Old:         oldRow,
		New:         newRow,
	}
	if err := sessionVariables(evObj.Fields, payload); err != nil {
		return nil, err
	}
	if di, err := deliveryInfo(f); err != nil {
		return nil, err
	} else {
		payload.DeliveryInfo = di
	}
	payload.TraceContext = parseTraceContext(evObj.Fields["trace_context"], func(key string) []byte {
		return rawAt(body, "event", "trace_context", key)
	})
	createdAt, err := optTime(f, "created_at")
	if err != nil {
		return nil, err
	}
	payload.CreatedAt = createdAt

	subject := schema + "." + name
	row := newRow
	if row == nil {
		row = oldRow
	}
	if pk := rowID(row, body, newRow != nil); pk != "" {
		subject += "/" + pk
	}
	return &eventv1.Event{
		Id:      id,
		Type:    "hasura." + schema + "." + name + "." + opNames[op],
		Subject: subject,
		Time:    createdAt,
		Payload: &eventv1.Event_HasuraTable{HasuraTable: payload},
	}, nil
}

// rowID renders the row's id column for the subject: strings as they are, numbers
// with every digit the sender wrote (a bigint above 2^53 would be rounded by float64).
func rowID(row *structpb.Struct, body []byte, fromNew bool) string {
	if row == nil {
		return ""
	}
	v := row.Fields["id"]
	if v == nil {
		return ""
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		// Integers below 2^53 are exact in float64; only larger ones need the raw text.
		if f := k.NumberValue; f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.FormatInt(int64(f), 10)
		}
		side := "old"
		if fromNew {
			side = "new"
		}
		if raw := rawAt(body, "event", "data", side, "id"); raw != nil {
			return string(raw)
		}
		return strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
	default:
		return ""
	}
}

func sessionVariables(f map[string]*structpb.Value, payload *eventv1.HasuraTableEvent) error {
	sv, err := optObject(f, "session_variables", "event.session_variables")
	if err != nil {
		return err
	}
	if sv == nil {
		payload.SessionVariablesNull = true
		return nil
	}
	vars := make(map[string]string, len(sv.Fields))
	for k, v := range sv.Fields {
		s, ok := v.Kind.(*structpb.Value_StringValue)
		if !ok {
			return invalid("event.session_variables." + k + " must be a string")
		}
		vars[strings.ToLower(k)] = s.StringValue
	}
	payload.SessionVariables = vars
	return nil
}

func deliveryInfo(f map[string]*structpb.Value) (*eventv1.HasuraDeliveryInfo, error) {
	di, err := optObject(f, "delivery_info", "delivery_info")
	if err != nil || di == nil {
		return nil, err
	}
	cur, err := optInt32(di.Fields, "current_retry", "delivery_info.current_retry")
	if err != nil {
		return nil, err
	}
	maxRetries, err := optInt32(di.Fields, "max_retries", "delivery_info.max_retries")
	if err != nil {
		return nil, err
	}
	return &eventv1.HasuraDeliveryInfo{CurrentRetry: cur, MaxRetries: maxRetries}, nil
}

func optInt32(f map[string]*structpb.Value, key, name string) (int32, error) {
	v := f[key]
	if isNull(v) {
		return 0, nil
	}
	n, ok := v.Kind.(*structpb.Value_NumberValue)
	if !ok || n.NumberValue != float64(int32(n.NumberValue)) {
		return 0, invalid(name + " must be a 32-bit integer")
	}
	return int32(n.NumberValue), nil
}

// timeLayouts are the created_at / scheduled_time forms Hasura has sent: RFC 3339 with
// Z or an offset (old servers, scheduled events), Postgres's short "+05" offset, and
// current v2's zone-less LocalTime (read as UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
}

func parseTime(s string) (time.Time, bool) {
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	layouts := timeLayouts
	if len(s) > 19 && !strings.ContainsAny(s[19:], "Z+-") {
		// No zone after the seconds: only the zone-less layout can match, so skip
		// the two failures (each allocates an error) on current Hasura's form.
		layouts = timeLayouts[2:]
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func optTime(f map[string]*structpb.Value, key string) (*timestamppb.Timestamp, error) {
	s, err := optString(f, key, key)
	if err != nil || s == "" {
		return nil, err
	}
	t, ok := parseTime(s)
	if !ok {
		return nil, invalid(key + " " + strconv.Quote(truncate(s, 64)) + " is not an ISO-8601 timestamp")
	}
	return timestamppb.New(t), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func scheduledEvent(f map[string]*structpb.Value) (*eventv1.Event, error) {
	id, err := eventID(f)
	if err != nil {
		return nil, err
	}
	name, err := optString(f, "name", "name")
	if err != nil {
		return nil, err
	}
	comment, err := optString(f, "comment", "comment")
	if err != nil {
		return nil, err
	}
	scheduledTime, err := optTime(f, "scheduled_time")
	if err != nil {
		return nil, err
	}
	createdAt, err := optTime(f, "created_at")
	if err != nil {
		return nil, err
	}
	payload := &eventv1.ScheduledEvent{
		Name:          name,
		ScheduledTime: scheduledTime,
		Comment:       comment,
		CreatedAt:     createdAt,
		Scheduler:     "hasura",
	}
	if v := f["payload"]; !isNull(v) {
		payload.Payload = v
	}
	ev := &eventv1.Event{Id: id, Time: scheduledTime}
	if ev.Time == nil {
		ev.Time = createdAt
	}
	// Cron events carry the trigger's name and no created_at; one-off events the reverse.
	if name != "" {
		payload.Kind = eventv1.ScheduledKind_SCHEDULED_KIND_CRON
		ev.Type = "hasura.cron." + name
		ev.Subject = name
	} else {
		payload.Kind = eventv1.ScheduledKind_SCHEDULED_KIND_ONE_OFF
		ev.Type = "hasura.scheduled"
	}
	ev.Payload = &eventv1.Event_Scheduled{Scheduled: payload}
	return ev, nil
}
