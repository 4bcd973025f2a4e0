module github.com/hookmesh/hookmesh/gateway

go 1.26

replace (
	github.com/hookmesh/hookmesh/gen/go => ../gen/go
	github.com/hookmesh/hookmesh/platform => ../platform
)
