module github.com/hookmesh/hookmesh/services/email

go 1.26.0

replace (
	github.com/hookmesh/hookmesh/gen/go => ../../gen/go
	github.com/hookmesh/hookmesh/platform => ../../platform
)

require (
	github.com/hookmesh/hookmesh/gen/go v0.0.0-00010101000000-000000000000
	go.opentelemetry.io/otel/trace v1.47.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261019180522-ce908d29299b // indirect
	google.golang.org/grpc v1.85.0 // indirect
)
