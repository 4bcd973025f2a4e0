package admin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/dispatch"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// The RPCs the dispatcher serves: requests become its operations' arguments,
// its errors become gRPC statuses (dispatchStatus), its records the responses.

// dispatchStatus maps the dispatcher's error kinds to gRPC codes, keeping its
// message; an error of no kind is INTERNAL.
func dispatchStatus(err error) error {
	c := codes.Internal
	switch {
	case errors.Is(err, dispatch.ErrInvalid):
		c = codes.InvalidArgument
	case errors.Is(err, dispatch.ErrNotFound):
		c = codes.NotFound
	case errors.Is(err, dispatch.ErrConflict):
		c = codes.FailedPrecondition
	case errors.Is(err, dispatch.ErrUnavailable):
		c = codes.Unavailable
	case errors.Is(err, dispatch.ErrCorrupt):
		c = codes.DataLoss
	}
	return status.Error(c, err.Error())
}

// ReplayEvent queues one event again with the replay flag.
func (s *Service) ReplayEvent(ctx context.Context, req *adminv1.ReplayEventRequest) (*adminv1.ReplayEventResponse, error) {
	if s.cfg.Deliveries == nil {
		return nil, missing("replay", "dispatcher")
	}
	subs, err := s.cfg.Deliveries.ReplayEvent(ctx, req.GetSource(), req.GetId(), req.GetSubscriptions())
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.ReplayEventResponse{Subscriptions: subs}, nil
}

// ListDeadLetters lists dead letters.
func (s *Service) ListDeadLetters(ctx context.Context, req *adminv1.ListDeadLettersRequest) (*adminv1.ListDeadLettersResponse, error) {
	if s.cfg.DeadLetters == nil {
		return nil, missing("dead letters", "dispatcher")
	}
	q := dispatch.DeadLetterQuery{
		Subscription:    req.GetSubscription(),
		Source:          req.GetSource(),
		Type:            req.GetType(),
		IncludeResolved: req.GetIncludeResolved(),
		PageSize:        int(req.GetPageSize()),
		PageToken:       req.GetPageToken(),
	}
	if req.GetSince() != nil {
		q.Since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		q.Until = req.GetUntil().AsTime()
	}
	dls, next, err := s.cfg.DeadLetters.ListDeadLetters(ctx, q)
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.ListDeadLettersResponse{DeadLetters: dls, NextPageToken: next}, nil
}

// ResolveDeadLetter marks a dead letter handled.
func (s *Service) ResolveDeadLetter(ctx context.Context, req *adminv1.ResolveDeadLetterRequest) (*adminv1.ResolveDeadLetterResponse, error) {
	if s.cfg.DeadLetters == nil {
		return nil, missing("dead letters", "dispatcher")
	}
	dl, err := s.cfg.DeadLetters.ResolveDeadLetter(ctx, req.GetId())
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.ResolveDeadLetterResponse{DeadLetter: dl}, nil
}

// PurgeDeadLetters deletes dead letters.
func (s *Service) PurgeDeadLetters(ctx context.Context, req *adminv1.PurgeDeadLettersRequest) (*adminv1.PurgeDeadLettersResponse, error) {
	if s.cfg.DeadLetters == nil {
		return nil, missing("dead letters", "dispatcher")
	}
	q := dispatch.PurgeQuery{Subscription: req.GetSubscription(), IncludeOpen: req.GetIncludeOpen()}
	if req.GetBefore() != nil {
		q.Before = req.GetBefore().AsTime()
	}
	n, err := s.cfg.DeadLetters.PurgeDeadLetters(ctx, q)
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.PurgeDeadLettersResponse{Purged: n}, nil
}

// CreateReplay starts a bulk replay job.
func (s *Service) CreateReplay(ctx context.Context, req *adminv1.CreateReplayRequest) (*adminv1.CreateReplayResponse, error) {
	if s.cfg.Replays == nil {
		return nil, missing("replays", "dispatcher")
	}
	rep, err := s.cfg.Replays.CreateReplay(ctx, req)
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.CreateReplayResponse{Replay: rep}, nil
}

// GetReplay reports a bulk replay job.
func (s *Service) GetReplay(ctx context.Context, req *adminv1.GetReplayRequest) (*adminv1.GetReplayResponse, error) {
	if s.cfg.Replays == nil {
		return nil, missing("replays", "dispatcher")
	}
	rep, err := s.cfg.Replays.GetReplay(ctx, req.GetId())
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.GetReplayResponse{Replay: rep}, nil
}

// ListSubscriptions lists subscriptions and their health.
func (s *Service) ListSubscriptions(ctx context.Context, _ *adminv1.ListSubscriptionsRequest) (*adminv1.ListSubscriptionsResponse, error) {
	if s.cfg.Subscriptions == nil {
		return nil, missing("subscriptions", "dispatcher")
	}
	subs, err := s.cfg.Subscriptions.ListSubscriptions(ctx)
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.ListSubscriptionsResponse{Subscriptions: subs}, nil
}

// PauseSubscription pauses a subscription cluster-wide.
func (s *Service) PauseSubscription(ctx context.Context, req *adminv1.PauseSubscriptionRequest) (*adminv1.PauseSubscriptionResponse, error) {
	if s.cfg.Subscriptions == nil {
		return nil, missing("subscriptions", "dispatcher")
	}
	sub, err := s.cfg.Subscriptions.PauseSubscription(ctx, req.GetName())
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.PauseSubscriptionResponse{Subscription: sub}, nil
}

// ResumeSubscription resumes a paused subscription.
func (s *Service) ResumeSubscription(ctx context.Context, req *adminv1.ResumeSubscriptionRequest) (*adminv1.ResumeSubscriptionResponse, error) {
	if s.cfg.Subscriptions == nil {
		return nil, missing("subscriptions", "dispatcher")
	}
	sub, err := s.cfg.Subscriptions.ResumeSubscription(ctx, req.GetName())
	if err != nil {
		return nil, dispatchStatus(err)
	}
	return &adminv1.ResumeSubscriptionResponse{Subscription: sub}, nil
}
