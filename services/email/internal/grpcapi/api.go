package grpcapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	emailv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/email/v1"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Reader is what the read API needs (email.Service).
type Reader interface {
	Get(ctx context.Context, id string) (*email.Message, error)
	List(ctx context.Context, f email.Filter) ([]*email.Message, string, error)
	Verify(ctx context.Context, token string) (email.TokenClaims, time.Time, error)
}

// API implements hookmesh.email.v1.EmailService.
type API struct {
	emailv1.UnimplementedEmailServiceServer
	svc    Reader
	logger *slog.Logger
}

// NewAPI returns the read API server; logger (nil: discard) gets the causes
// of INTERNAL answers.
func NewAPI(svc Reader, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &API{svc: svc, logger: logger}
}

// fail is Status for the read API's callers (REST users, through
// grpc-gateway): a failure that is not theirs (the database) is logged with
// the call's trace id and answered "internal error", as orders does.
func (a *API) fail(ctx context.Context, err error) error {
	st := status.Convert(Status(err))
	if st.Code() != codes.Internal && st.Code() != codes.Unknown {
		return st.Err()
	}
	a.logger.ErrorContext(ctx, "read API call failed", "error", err.Error())
	return status.Error(codes.Internal, "internal error")
}

// ListMessages implements EmailService.
func (a *API) ListMessages(ctx context.Context, req *emailv1.ListMessagesRequest) (*emailv1.ListMessagesResponse, error) {
	f := email.Filter{To: req.GetTo(), EventID: req.GetEventId(), Limit: int(req.GetPageSize()), Cursor: req.GetPageToken()}
	if req.GetPageSize() < 0 {
		return nil, a.fail(ctx, fmt.Errorf("page_size: %w: must not be negative", email.ErrInvalid))
	}
	switch req.GetStatus() {
	case emailv1.MessageStatus_MESSAGE_STATUS_UNSPECIFIED:
	case emailv1.MessageStatus_MESSAGE_STATUS_QUEUED:
		f.Status = email.StatusQueued
	case emailv1.MessageStatus_MESSAGE_STATUS_SENT:
		f.Status = email.StatusSent
	case emailv1.MessageStatus_MESSAGE_STATUS_FAILED:
		f.Status = email.StatusFailed
	default:
		return nil, a.fail(ctx, fmt.Errorf("status %d: %w", req.GetStatus(), email.ErrInvalid))
	}
	if req.GetSince() != nil {
		f.Since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		f.Until = req.GetUntil().AsTime()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, a.fail(ctx, fmt.Errorf("until before since: %w", email.ErrInvalid))
	}
	msgs, next, err := a.svc.List(ctx, f)
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	resp := &emailv1.ListMessagesResponse{NextPageToken: next, Messages: make([]*emailv1.Message, len(msgs))}
	for i, m := range msgs {
		resp.Messages[i] = toProto(m)
	}
	return resp, nil
}

// GetMessage implements EmailService.
func (a *API) GetMessage(ctx context.Context, req *emailv1.GetMessageRequest) (*emailv1.GetMessageResponse, error) {
	if req.GetId() == "" {
		return nil, a.fail(ctx, fmt.Errorf("id: %w: required", email.ErrInvalid))
	}
	m, err := a.svc.Get(ctx, req.GetId())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	return &emailv1.GetMessageResponse{Message: toProto(m)}, nil
}

// VerifyEmail implements EmailService.
func (a *API) VerifyEmail(ctx context.Context, req *emailv1.VerifyEmailRequest) (*emailv1.VerifyEmailResponse, error) {
	if req.GetToken() == "" {
		return nil, a.fail(ctx, fmt.Errorf("token: %w: required", email.ErrInvalid))
	}
	claims, at, err := a.svc.Verify(ctx, req.GetToken())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	return &emailv1.VerifyEmailResponse{UserId: claims.UserID, Email: claims.Email, VerifyTime: timestamppb.New(at)}, nil
}

var kinds = map[email.Kind]emailv1.MessageKind{
	email.KindWelcome:           emailv1.MessageKind_MESSAGE_KIND_WELCOME,
	email.KindVerifyEmail:       emailv1.MessageKind_MESSAGE_KIND_VERIFY_EMAIL,
	email.KindOrderConfirmation: emailv1.MessageKind_MESSAGE_KIND_ORDER_CONFIRMATION,
	email.KindBackOrder:         emailv1.MessageKind_MESSAGE_KIND_BACK_ORDER,
	email.KindDailyReport:       emailv1.MessageKind_MESSAGE_KIND_DAILY_REPORT,
	email.KindWeeklyReport:      emailv1.MessageKind_MESSAGE_KIND_WEEKLY_REPORT,
}

var statuses = map[email.Status]emailv1.MessageStatus{
	email.StatusQueued: emailv1.MessageStatus_MESSAGE_STATUS_QUEUED,
	email.StatusSent:   emailv1.MessageStatus_MESSAGE_STATUS_SENT,
	email.StatusFailed: emailv1.MessageStatus_MESSAGE_STATUS_FAILED,
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func toProto(m *email.Message) *emailv1.Message {
	return &emailv1.Message{
		Id: m.ID, MessageId: m.MessageID, Kind: kinds[m.Kind], Status: statuses[m.Status],
		FailureReason: m.FailureReason, From: m.From, To: m.To, Subject: m.Subject,
		EventSource: m.Event.Source, EventId: m.Event.ID, EventType: m.Event.Type, TraceId: m.TraceID,
		Attempts: int32(m.Attempts), Transport: m.Transport,
		CreateTime: ts(m.CreatedAt), UpdateTime: ts(m.UpdatedAt), SentTime: ts(m.SentAt),
	}
}
