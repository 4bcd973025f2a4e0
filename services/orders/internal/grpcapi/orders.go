package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// Orders implements hookmesh.orders.v1.OrdersService, the read API.
type Orders struct {
	ordersv1.UnimplementedOrdersServiceServer
	r      orders.Reader
	logger *slog.Logger
}

// NewOrders returns the read API server.
func NewOrders(r orders.Reader, logger *slog.Logger) (*Orders, error) {
	if r == nil {
		return nil, errors.New("grpcapi: Reader is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Orders{r: r, logger: logger}, nil
}

// GetOrder implements OrdersService.
func (s *Orders) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	o, err := s.r.GetOrder(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	out := &ordersv1.Order{
		Id: o.ID, CustomerId: o.CustomerID, Status: o.Status, Items: items(o.Items), TotalCents: o.TotalCents,
		CreateTime: ts(o.CreatedAt), UpdateTime: ts(o.UpdatedAt), DeleteTime: ts(o.DeletedAt),
		Payment: &ordersv1.Payment{
			Status: paymentStatus(o.Payment.Status), PaymentIntentId: o.Payment.PaymentIntentID,
			AmountCents: o.Payment.AmountCents, Currency: o.Payment.Currency,
			FailureMessage: o.Payment.FailureMessage, UpdateTime: ts(o.Payment.At),
		},
	}
	if o.Shipment != nil {
		out.Shipment = shipment(*o.Shipment)
	}
	return &ordersv1.GetOrderResponse{Order: out}, nil
}

// ListShipments implements OrdersService.
func (s *Orders) ListShipments(ctx context.Context, req *ordersv1.ListShipmentsRequest) (*ordersv1.ListShipmentsResponse, error) {
	list, next, err := s.r.ListShipments(ctx, orders.ShipmentFilter{CustomerID: req.GetCustomerId()},
		orders.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &ordersv1.ListShipmentsResponse{NextPageToken: next}
	for _, sh := range list {
		resp.Shipments = append(resp.Shipments, shipment(sh))
	}
	return resp, nil
}

// ListInvoices implements OrdersService.
func (s *Orders) ListInvoices(ctx context.Context, req *ordersv1.ListInvoicesRequest) (*ordersv1.ListInvoicesResponse, error) {
	list, next, err := s.r.ListInvoices(ctx, orders.InvoiceFilter{CustomerID: req.GetCustomerId(), Month: req.GetMonth()},
		orders.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &ordersv1.ListInvoicesResponse{NextPageToken: next}
	for _, inv := range list {
		pb := &ordersv1.Invoice{Id: inv.ID, CustomerId: inv.CustomerID, Month: inv.Month.String(), TotalCents: inv.TotalCents, CreateTime: ts(inv.CreatedAt)}
		for _, l := range inv.Lines {
			kind := ordersv1.InvoiceLineKind_INVOICE_LINE_KIND_ORDER
			if l.Kind == orders.LineSubscription {
				kind = ordersv1.InvoiceLineKind_INVOICE_LINE_KIND_SUBSCRIPTION
			}
			pb.Lines = append(pb.Lines, &ordersv1.InvoiceLine{Kind: kind, Reference: l.Reference, Description: l.Description, AmountCents: l.AmountCents})
		}
		resp.Invoices = append(resp.Invoices, pb)
	}
	return resp, nil
}

// ListFulfillmentNotifications implements OrdersService.
func (s *Orders) ListFulfillmentNotifications(ctx context.Context, req *ordersv1.ListFulfillmentNotificationsRequest) (*ordersv1.ListFulfillmentNotificationsResponse, error) {
	f := orders.NotificationFilter{OrderID: req.GetOrderId()}
	switch req.GetStatus() {
	case ordersv1.NotificationStatus_NOTIFICATION_STATUS_UNSPECIFIED:
	case ordersv1.NotificationStatus_NOTIFICATION_STATUS_PENDING:
		f.Status = orders.NotificationPending
	case ordersv1.NotificationStatus_NOTIFICATION_STATUS_DELIVERED:
		f.Status = orders.NotificationDelivered
	case ordersv1.NotificationStatus_NOTIFICATION_STATUS_FAILED:
		f.Status = orders.NotificationFailed
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown status %d", req.GetStatus())
	}
	list, next, err := s.r.ListNotifications(ctx, f, orders.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &ordersv1.ListFulfillmentNotificationsResponse{NextPageToken: next}
	for _, n := range list {
		resp.Notifications = append(resp.Notifications, &ordersv1.FulfillmentNotification{
			Id: n.ID, OrderId: n.OrderID, ShipmentId: n.ShipmentID, Status: notificationStatus(n.Status),
			Attempts: int32(n.Attempts), LastError: n.LastError, LastStatusCode: int32(n.LastStatusCode),
			NextAttemptTime: ts(n.NextAttemptAt), DeliverTime: ts(n.DeliveredAt), CreateTime: ts(n.CreatedAt),
		})
	}
	return resp, nil
}

// ListStock implements OrdersService.
func (s *Orders) ListStock(ctx context.Context, req *ordersv1.ListStockRequest) (*ordersv1.ListStockResponse, error) {
	list, next, err := s.r.ListStock(ctx, orders.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &ordersv1.ListStockResponse{NextPageToken: next}
	for _, l := range list {
		resp.Levels = append(resp.Levels, &ordersv1.StockLevel{Sku: l.SKU, Name: l.Name, Quantity: l.Quantity, UpdateTime: ts(l.UpdatedAt)})
	}
	return resp, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func items(in []orders.Item) []*ordersv1.OrderItem {
	out := make([]*ordersv1.OrderItem, len(in))
	for i, it := range in {
		out[i] = &ordersv1.OrderItem{Sku: it.SKU, Quantity: it.Quantity, PriceCents: it.PriceCents}
	}
	return out
}

func shipment(s orders.Shipment) *ordersv1.Shipment {
	return &ordersv1.Shipment{
		Id: s.ID, OrderId: s.OrderID, CustomerId: s.CustomerID, TrackingNumber: s.TrackingNumber,
		Items: items(s.Items), TotalCents: s.TotalCents, CompleteTime: ts(s.CompletedAt), CreateTime: ts(s.CreatedAt),
		InvoiceId: s.InvoiceID,
	}
}

func paymentStatus(s orders.PaymentStatus) ordersv1.PaymentStatus {
	switch s {
	case orders.PaymentSucceeded:
		return ordersv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED
	case orders.PaymentFailed:
		return ordersv1.PaymentStatus_PAYMENT_STATUS_FAILED
	}
	return ordersv1.PaymentStatus_PAYMENT_STATUS_PENDING
}

func notificationStatus(s orders.NotificationStatus) ordersv1.NotificationStatus {
	switch s {
	case orders.NotificationPending:
		return ordersv1.NotificationStatus_NOTIFICATION_STATUS_PENDING
	case orders.NotificationDelivered:
		return ordersv1.NotificationStatus_NOTIFICATION_STATUS_DELIVERED
	case orders.NotificationFailed:
		return ordersv1.NotificationStatus_NOTIFICATION_STATUS_FAILED
	}
	return ordersv1.NotificationStatus_NOTIFICATION_STATUS_UNSPECIFIED
}
