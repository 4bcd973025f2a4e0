module github.com/hookmesh/hookmesh/platform

go 1.26

replace github.com/hookmesh/hookmesh/gen/go => ../gen/go
