package orders

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"

	"github.com/google/uuid"
)

// namespace makes the derived ids of this service distinct from anyone else's.
var namespace = uuid.MustParse("5f1f4a8e-7f3c-4a52-9d0e-0c9b8d3c1a77")

func derive(kind, key string) string {
	return uuid.NewSHA1(namespace, []byte(kind+"\x00"+key)).String()
}

// ShipmentID is the id of an order's one shipment.
func ShipmentID(orderID string) string { return derive("shipment", orderID) }

// NotificationID is the id (and webhook-id) of an order's fulfillment notification.
func NotificationID(orderID string) string { return "msg_" + derive("fulfillment", orderID) }

// ShipmentCreatedID is the id of an order's orders.shipment.created event: stable,
// so publishing it again is a duplicate at the gateway.
func ShipmentCreatedID(orderID string) string { return derive(TypeShipmentCreated, orderID) }

// StockInsufficientID is the id of the orders.stock.insufficient event caused by
// one delivery of an order change: a redelivery gives the same id, a later change
// a new one.
func StockInsufficientID(cause EventRef) string {
	return derive(TypeStockInsufficient, cause.Source+"\x00"+cause.ID)
}

// InvoiceID is the id of a customer's invoice for a month.
func InvoiceID(customerID string, m Month) string {
	return derive("invoice", m.String()+"\x00"+customerID)
}

// NewTrackingNumber returns a random carrier-style tracking number.
func NewTrackingNumber() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tracking number: %w", err)
	}
	return "HM" + base32.StdEncoding.EncodeToString(b[:]), nil
}
