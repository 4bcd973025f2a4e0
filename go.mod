module github.com/hookmesh/hookmesh

go 1.26

replace (
	github.com/hookmesh/hookmesh/gen/go => ./gen/go
	github.com/hookmesh/hookmesh/platform => ./platform
	github.com/hookmesh/hookmesh/gateway => ./gateway
	github.com/hookmesh/hookmesh/services/email => ./services/email
	github.com/hookmesh/hookmesh/services/analytics => ./services/analytics
	github.com/hookmesh/hookmesh/services/orders => ./services/orders
)
