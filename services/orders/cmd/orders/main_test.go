package main

import (
	"net"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	_ = lis.Close() // nothing serves health there now

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"unknown command", []string{"bogus"}, nil, 2},
		{"invalid environment", []string{"health"}, map[string]string{"FULFILLMENT_MAX_ATTEMPTS": "many"}, 2},
		{"health of nothing", []string{"health"}, map[string]string{"ORDERS_GRPC_ADDR": closed}, 1},
		{"serve with an invalid config", []string{"serve"}, map[string]string{"ORDERS_SEED_CATALOGUE": "maybe", "HOOKMESH_DATA_DIR": t.TempDir()}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if got := run(tc.args); got != tc.want {
				t.Fatalf("run(%v) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
