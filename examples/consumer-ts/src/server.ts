// hookmesh example consumer in TypeScript: serves hookmesh.consumer.v1.EventConsumerService
// over gRPC (HTTP/2 cleartext) with Connect for Node.
//
// Environment:
//   LISTEN_ADDR     host:port to listen on (default 127.0.0.1:9110; port 0 picks one)
//   PROCESSED_FILE  JSON-lines file of applied (source, id) pairs (default ./processed.jsonl)
//   FAIL_FIRST_N    answer UNAVAILABLE to attempts 1..N of every new event (default 0)
import { createServer, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";

import { connectNodeAdapter } from "@connectrpc/connect-node";

import { consumer } from "./consumer.js";
import { EventConsumerService } from "./gen/hookmesh/consumer/v1/consumer_pb.js";
import { jsonLogger } from "./log.js";
import { ProcessedStore } from "./store.js";

const log = jsonLogger("consumer-ts");

function config(): { host: string; port: number; processedFile: string; failFirstN: number } {
  const addr = process.env.LISTEN_ADDR || "127.0.0.1:9110";
  const i = addr.lastIndexOf(":");
  const port = Number(addr.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error("LISTEN_ADDR must be host:port");
  }
  const failFirstN = Number(process.env.FAIL_FIRST_N || "0");
  if (!Number.isInteger(failFirstN) || failFirstN < 0) {
    throw new Error("FAIL_FIRST_N must be a non-negative integer");
  }
  return {
    host: addr.slice(0, i).replace(/^\[(.*)\]$/, "$1") || "0.0.0.0",
    port,
    processedFile: process.env.PROCESSED_FILE || "processed.jsonl",
    failFirstN,
  };
}

function main(): void {
  const cfg = config();
  const store = new ProcessedStore(cfg.processedFile);
  const server = createServer(
    connectNodeAdapter({
      routes: (router) => router.service(EventConsumerService, consumer({ store, log, failFirstN: cfg.failFirstN })),
    }),
  );
  // Open HTTP/2 sessions (the gateway keeps one per target) are told to go away
  // on shutdown, so close() need not wait for the client to hang up.
  const sessions = new Set<Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("error", (err) => {
    log.error("server error", { error: String(err) });
    process.exit(1);
  });
  server.listen(cfg.port, cfg.host, () => {
    const a = server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    log.info("listening", { addr: `${host}:${a.port}`, fail_first_n: cfg.failFirstN });
  });

  const stop = (signal: string): void => {
    log.info("stopping", { signal });
    // Stop accepting; in-flight calls finish, or the dispatcher retries them.
    server.close(() => {
      store.close();
      process.exit(0);
    });
    for (const session of sessions) session.close();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

try {
  main();
} catch (err) {
  log.error("cannot start", { error: err instanceof Error ? err.message : String(err) });
  process.exit(2);
}
