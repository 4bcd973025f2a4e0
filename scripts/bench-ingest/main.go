// Command bench-ingest serves one of the targets of the ingest benchmark
// (scripts/bench-ingest.sh) so wrk can load each the same way:
//
//	bare         a net/http handler that only reads the body (the baseline)
//	ingest       the gateway's POST /hooks/hasura with the embedded event log
//	ingest-sync  the same with the log's `sync: always`
//
// It prints the listening address, then serves until SIGINT/SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/platform/httpserver"
)

func main() {
	mode := flag.String("mode", "ingest", "bare | ingest | ingest-sync")
	dataDir := flag.String("data", "", "data dir (default: a temporary one)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:0; printed on stderr)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		lis, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-ingest:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "pprof on", lis.Addr())
		go func() { _ = http.Serve(lis, nil) }() // DefaultServeMux holds net/http/pprof
	}
	if err := profiled(*cpuProfile, func() error { return run(ctx, *mode, *dataDir) }); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

// profiled runs fn under a CPU profile when asked.
func profiled(cpu string, fn func() error) error {
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return fn()
}

func run(ctx context.Context, mode, dataDir string) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if mode == "bare" {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"accepted"}`)
		})}
		httpserver.SetDefaults(srv)         // the gateway's timeouts, for a fair baseline
		fmt.Fprintln(os.Stdout, lis.Addr()) // the address, for the caller to read
		go func() { <-ctx.Done(); _ = srv.Close() }()
		if err := srv.Serve(lis); err != http.ErrServerClosed {
			return err
		}
		return nil
	}
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "bench-ingest-"); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dataDir) }()
	}
	sync := ""
	if mode == "ingest-sync" {
		sync = "\n  sync: always"
	} else if mode != "ingest" {
		return fmt.Errorf("unknown mode %q", mode)
	}
	cfgPath := dataDir + "/bench.yaml"
	yaml := "sources:\n  - name: hasura\n    kind: hasura\n    header: X-Hasura-Webhook-Secret\n    secrets_from_env: [BENCH_HASURA_SECRET]\nlog:" + sync + "\n  replicas: 1\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	g, err := gateway.New(ctx, gateway.Config{DataDir: dataDir, ConfigFile: cfgPath}, gateway.Deps{HTTPListener: lis, NoDispatcher: true})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, lis.Addr()) // the address, for the caller to read
	return g.Run(ctx)
}
