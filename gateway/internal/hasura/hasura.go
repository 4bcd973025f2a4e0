// Package hasura turns Hasura event-trigger and scheduled-trigger webhook bodies into
// typed events (shared/reference/hasura-webhook-contract.md) and provides the hasura
// source kind, authenticated by a shared-secret header.
package hasura

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	d, err := parseDoc(body)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, webhook.BadRequest(webhook.CodeMalformedJSON, "body is not valid JSON: "+se.Error())
		}
		return nil, invalid(err.Error())
	}
	defer releaseDoc(d)
	const root = 0
	if d.nodes[root].kind != kindObject {
		return nil, invalid("body must be a JSON object")
	}
	var ev *eventv1.Event
	switch {
	case d.get(root, "event") >= 0 || d.get(root, "table") >= 0 || d.get(root, "trigger") >= 0:
		ev, err = tableEvent(d, root)
	case d.get(root, "scheduled_time") >= 0 || d.get(root, "name") >= 0 || d.get(root, "payload") >= 0 || d.get(root, "comment") >= 0:
		ev, err = scheduledEvent(d, root)
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

// isNull reports a missing member (-1) or an explicit JSON null.
func (d *doc) isNull(v int32) bool { return v < 0 || d.nodes[v].kind == kindNull }

func eventID(d *doc, obj int32) (string, error) {
	v := d.get(obj, "id")
	if d.isNull(v) {
		return "", invalid("id is missing")
	}
	if d.nodes[v].kind != kindString {
		return "", invalid("id must be a string")
	}
	id := d.str(v)
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

// optString returns a string member, "" when missing or null, or an error naming it.
func optString(d *doc, obj int32, key, name string) (string, error) {
	v := d.get(obj, key)
	if d.isNull(v) {
		return "", nil
	}
	if d.nodes[v].kind != kindString {
		return "", invalid(name + " must be a string")
	}
	return d.str(v), nil
}

// optObject returns an object member, -1 when missing or null, or an error naming it.
func optObject(d *doc, obj int32, key, name string) (int32, error) {
	v := d.get(obj, key)
	if d.isNull(v) {
		return -1, nil
	}
	if d.nodes[v].kind != kindObject {
		return -1, invalid(name + " must be an object or null")
	}
	return v, nil
}

func reqString(d *doc, obj int32, key, name string) (string, error) {
	s, err := optString(d, obj, key, name)
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

func tableEvent(d *doc, root int32) (*eventv1.Event, error) {
	id, err := eventID(d, root)
	if err != nil {
		return nil, err
	}
	table, err := optObject(d, root, "table", "table")
	if err != nil {
		return nil, err
	}
	if table < 0 {
		return nil, invalid("table is missing")
	}
	schema, err := reqString(d, table, "schema", "table.schema")
	if err != nil {
		return nil, err
	}
	name, err := reqString(d, table, "name", "table.name")
	if err != nil {
		return nil, err
	}
	trigger, err := optObject(d, root, "trigger", "trigger")
	if err != nil {
		return nil, err
	}
	var triggerName string
	if trigger >= 0 {
		if triggerName, err = optString(d, trigger, "name", "trigger.name"); err != nil {
			return nil, err
		}
	}
	evObj, err := optObject(d, root, "event", "event")
	if err != nil {
		return nil, err
	}
	if evObj < 0 {
		return nil, invalid("event is missing")
	}
	opName, err := reqString(d, evObj, "op", "event.op")
	if err != nil {
		return nil, err
	}
	op, ok := ops[opName]
	if !ok {
		return nil, invalid("event.op " + strconv.Quote(opName) + " is not INSERT, UPDATE, DELETE or MANUAL")
	}
	data, err := optObject(d, evObj, "data", "event.data")
	if err != nil {
		return nil, err
	}
	if data < 0 {
		return nil, invalid("event.data is missing")
	}
	oldRow, err := optObject(d, data, "old", "event.data.old")
	if err != nil {
		return nil, err
	}
	newRow, err := optObject(d, data, "new", "event.data.new")
	if err != nil {
		return nil, err
	}
	// Payload-column subsets may leave a row empty but never absent: INSERT and UPDATE
	// carry the new row (MSSQL sends old=null when the key changed), DELETE the old
	// one, MANUAL the caller's payload, which must be an object to be a row.
	switch op {
	case eventv1.HasuraOperation_HASURA_OPERATION_INSERT, eventv1.HasuraOperation_HASURA_OPERATION_UPDATE,
		eventv1.HasuraOperation_HASURA_OPERATION_MANUAL:
		if newRow < 0 {
			return nil, invalid("event.data.new is missing for " + opName)
		}
	case eventv1.HasuraOperation_HASURA_OPERATION_DELETE:
		if oldRow < 0 {
			return nil, invalid("event.data.old is missing for DELETE")
		}
	}

	payload := &eventv1.HasuraTableEvent{
		Op:          op,
		Schema:      schema,
		Table:       name,
		TriggerName: triggerName,
	}
	if err := sessionVariables(d, evObj, payload); err != nil {
		return nil, err
	}
	if di, err := deliveryInfo(d, root); err != nil {
		return nil, err
	} else {
		payload.DeliveryInfo = di
	}
	payload.TraceContext = parseTraceContext(d, d.get(evObj, "trace_context"))
	createdAt, err := optTime(d, root, "created_at")
	if err != nil {
		return nil, err
	}
	payload.CreatedAt = createdAt
	if oldRow >= 0 {
		payload.Old = d.toStruct(oldRow)
	}
	if newRow >= 0 {
		payload.New = d.toStruct(newRow)
	}

	subject := schema + "." + name
	row := newRow
	if row < 0 {
		row = oldRow
	}
	if pk := rowID(d, row); pk != "" {
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
func rowID(d *doc, row int32) string {
	v := d.get(row, "id")
	if v < 0 {
		return ""
	}
	switch n := &d.nodes[v]; n.kind {
	case kindString:
		return d.str(v)
	case kindNumber:
		// Integers below 2^53 are exact in float64; only larger ones need the raw text.
		if isInt(n.num) {
			return strconv.FormatInt(int64(n.num), 10)
		}
		return string(d.raw(v))
	default:
		return ""
	}
}

// sessionVariables keeps event.session_variables with lower-cased names; of
// repeated names the last one counts.
func sessionVariables(d *doc, evObj int32, payload *eventv1.HasuraTableEvent) error {
	sv, err := optObject(d, evObj, "session_variables", "event.session_variables")
	if err != nil {
		return err
	}
	if sv < 0 {
		payload.SessionVariablesNull = true
		return nil
	}
	vars := make(map[string]string, d.nodes[sv].count)
	for c := d.nodes[sv].first; c >= 0; c = d.nodes[c].next {
		if !d.lastOfKey(c) {
			continue
		}
		if d.nodes[c].kind != kindString {
			return invalid("event.session_variables." + d.key(c) + " must be a string")
		}
		vars[strings.ToLower(d.key(c))] = d.str(c)
	}
	payload.SessionVariables = vars
	return nil
}

func deliveryInfo(d *doc, root int32) (*eventv1.HasuraDeliveryInfo, error) {
	di, err := optObject(d, root, "delivery_info", "delivery_info")
	if err != nil || di < 0 {
		return nil, err
	}
	cur, err := optInt32(d, di, "current_retry", "delivery_info.current_retry")
	if err != nil {
		return nil, err
	}
	maxRetries, err := optInt32(d, di, "max_retries", "delivery_info.max_retries")
	if err != nil {
		return nil, err
	}
	return &eventv1.HasuraDeliveryInfo{CurrentRetry: cur, MaxRetries: maxRetries}, nil
}

func optInt32(d *doc, obj int32, key, name string) (int32, error) {
	v := d.get(obj, key)
	if d.isNull(v) {
		return 0, nil
	}
	n := &d.nodes[v]
	if n.kind != kindNumber || n.num != float64(int32(n.num)) {
		return 0, invalid(name + " must be a 32-bit integer")
	}
	return int32(n.num), nil
}

// timeLayouts are the created_at / scheduled_time forms Hasura has sent: RFC 3339 with
// Z or an offset (old servers, scheduled events), Postgres's short "+05" offset, and
// current v2's zone-less LocalTime (read as UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
}

// ParseTime reads a timestamp in the forms above (a space for the T too), in UTC.
func ParseTime(s string) (time.Time, bool) {
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

func optTime(d *doc, obj int32, key string) (*timestamppb.Timestamp, error) {
	s, err := optString(d, obj, key, key)
	if err != nil || s == "" {
		return nil, err
	}
	t, ok := ParseTime(s)
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

func scheduledEvent(d *doc, root int32) (*eventv1.Event, error) {
	id, err := eventID(d, root)
	if err != nil {
		return nil, err
	}
	name, err := optString(d, root, "name", "name")
	if err != nil {
		return nil, err
	}
	comment, err := optString(d, root, "comment", "comment")
	if err != nil {
		return nil, err
	}
	scheduledTime, err := optTime(d, root, "scheduled_time")
	if err != nil {
		return nil, err
	}
	createdAt, err := optTime(d, root, "created_at")
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
	if v := d.get(root, "payload"); !d.isNull(v) {
		payload.Payload = d.toValue(v)
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
