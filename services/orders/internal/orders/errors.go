package orders

import (
	"errors"
	"fmt"
	"strings"
)

// Domain errors. internal/grpcapi maps them to gRPC codes in one place.
var (
	// ErrNotFound: the requested entity does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the input cannot be applied, now or ever (dead letter).
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the effect exists already, e.g. the event was processed before.
	ErrConflict = errors.New("conflict")
	// ErrInsufficientStock: a decision, not a failure: the order cannot be fulfilled
	// with the current stock (dead letter; replay it after a restock).
	ErrInsufficientStock = errors.New("insufficient stock")
)

// Invalidf returns an ErrInvalid with a reason.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Shortage is one SKU an order needs more of than is in stock.
type Shortage struct {
	SKU       string `json:"sku"`
	Requested int64  `json:"requested"`
	Available int64  `json:"available"`
}

// InsufficientStockError says which SKUs are short. It matches ErrInsufficientStock.
type InsufficientStockError struct {
	Order     OrderRow
	Shortages []Shortage
	// Email is the customer's email if known.
	Email string
}

func (e *InsufficientStockError) Error() string {
	parts := make([]string, len(e.Shortages))
	for i, s := range e.Shortages {
		parts[i] = fmt.Sprintf("%s: requested %d, available %d", s.SKU, s.Requested, s.Available)
	}
	return fmt.Sprintf("insufficient stock for order %s (%s)", e.Order.ID, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrInsufficientStock) true.
func (e *InsufficientStockError) Is(target error) bool { return target == ErrInsufficientStock }
