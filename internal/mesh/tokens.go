package mesh

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/hookmesh/hookmesh/gateway"
)

// OrdersPublisherEnv is the demo config's token_from_env of the orders publisher.
const OrdersPublisherEnv = "ORDERS_PUBLISHER_TOKEN"

// newToken is 32 random bytes, hex.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// publisher is the token orders publishes with and the gateway's secret lookup
// that knows it.
type publisher struct {
	token   string
	secrets func(name string) (string, bool, error)
}

// ordersPublisher picks orders' publisher token: PUBLISHER_TOKEN when set;
// with the demo config, ORDERS_PUBLISHER_TOKEN from the environment or one
// generated for this process (which the gateway then resolves too); with
// another config, the gateway's admin token (that config names orders'
// publisher token, which PUBLISHER_TOKEN must then carry).
func ordersPublisher(cfg Config) (publisher, error) {
	p := publisher{token: cfg.Orders.PublisherToken, secrets: gateway.EnvSecret}
	if cfg.Gateway.ConfigFile != "" {
		if p.token == "" {
			p.token = cfg.Gateway.AdminToken
		}
		return p, nil
	}
	demo, ok, err := gateway.EnvSecret(OrdersPublisherEnv)
	if err != nil {
		return publisher{}, err
	}
	if !ok {
		if demo, err = newToken(); err != nil {
			return publisher{}, err
		}
	}
	if p.token == "" {
		p.token = demo
	}
	p.secrets = func(name string) (string, bool, error) {
		if name == OrdersPublisherEnv {
			return demo, true, nil
		}
		return gateway.EnvSecret(name)
	}
	return p, nil
}
