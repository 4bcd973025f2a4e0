"""A hookmesh consumer in Python: hookmesh.consumer.v1.EventConsumerService/Deliver
served by grpcio, with code generated from the repository's proto/ (./generate.sh).

It applies each (source, id) once (a JSON-lines file of processed pairs, fsynced
before OK), answers with the contract's status codes, and logs one JSON line per
call on stdout: the decoded event (for a Hasura table event its operation, table,
row id and column names, never row values), the replay flag, and the trace it
continues (the caller's W3C traceparent, else the event's stored one).

Environment: LISTEN_ADDR (default 127.0.0.1:9111, port 0 picks one),
PROCESSED_FILE (default ./processed.jsonl), FAIL_FIRST_N (answer UNAVAILABLE to
attempts 1..N of a new event, default 0).
"""

import json
import os
import re
import secrets
import signal
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from hookmesh.consumer.v1 import consumer_pb2, consumer_pb2_grpc  # noqa: E402
from hookmesh.event.v1 import event_pb2  # noqa: E402

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def log(msg, **fields):
    print(json.dumps({"msg": msg, **fields}, sort_keys=True), flush=True)


class ProcessedStore:
    """The processed (source, id) pairs: loaded at start, appended and fsynced."""

    def __init__(self, path):
        self._path = path
        self._seen = set()
        self.lock = threading.Lock()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        p = json.loads(line)
                        self._seen.add((p["source"], p["id"]))
        # Opening now makes a bad path a start error, not a failed delivery.
        self._file = open(path, "a", encoding="utf-8")

    def has(self, source, id_):
        return (source, id_) in self._seen

    def add(self, record):
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._seen.add((record["source"], record["id"]))


def row_dict(struct):
    return json_format.MessageToDict(struct) if struct is not None else None


def describe(ev):
    """What the example logs about an event's typed payload (no row values)."""
    kind = ev.WhichOneof("payload")
    if kind == "hasura_table":
        h = ev.hasura_table
        old = row_dict(h.old) if h.HasField("old") else None
        new = row_dict(h.new) if h.HasField("new") else None
        row = new or old or {}
        changed = []
        if old is not None and new is not None:
            changed = sorted(c for c in set(old) | set(new) if old.get(c) != new.get(c))
        return {
            "kind": kind,
            "op": event_pb2.HasuraOperation.Name(h.op).removeprefix("HASURA_OPERATION_"),
            "table": h.schema + "." + h.table,
            "trigger": h.trigger_name,
            "row_id": row.get("id"),
            "columns": sorted(new or {}),
            "changed": changed,
        }
    if kind == "scheduled":
        return {"kind": kind, "name": ev.scheduled.name, "scheduler": ev.scheduled.scheduler}
    if kind == "provider":
        return {"kind": kind, "provider": ev.provider.provider, "provider_event_type": ev.provider.provider_event_type}
    if kind == "fact":
        return {"kind": kind, "service": ev.fact.service}
    return {"kind": "none"}


def continue_trace(context, ev):
    """The trace this call continues: the caller's traceparent (the delivery
    span), else the one stored with the event; and this consumer's own span in it,
    as the traceparent it would send on."""
    caller = dict(context.invocation_metadata()).get("traceparent", "") or ev.traceparent
    m = TRACEPARENT.match(caller)
    if not m:
        return {"trace_id": None}
    trace_id, parent, flags = m.groups()
    return {"trace_id": trace_id, "parent_span_id": parent, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"}


class Consumer(consumer_pb2_grpc.EventConsumerServiceServicer):
    def __init__(self, store, fail_first_n):
        self._store = store
        self._fail_first_n = fail_first_n

    def Deliver(self, request, context):
        ev = request.event
        base = {"source": ev.source, "event_id": ev.id, "attempt": request.attempt,
                "replay": request.replay, "subscription": request.subscription}
        # Without (source, id) or a typed payload nothing can ever be applied: refuse
        # for good, so the gateway dead-letters instead of retrying.
        if not request.HasField("event") or not ev.source or not ev.id:
            self._reject(context, base, "the event has no source or no id")
        facts = describe(ev)
        if facts["kind"] == "none":
            self._reject(context, base, "the event has no typed payload")
        if facts["kind"] == "hasura_table" and facts["row_id"] is None:
            self._reject(context, base, "the row has no id column")
        base.update(continue_trace(context, ev))
        with self._store.lock:
            if self._store.has(ev.source, ev.id):
                log("event already processed", **base)
                context.abort(grpc.StatusCode.ALREADY_EXISTS, "already processed")
            if request.attempt <= self._fail_first_n:
                log("failing on purpose", fail_first_n=self._fail_first_n, **base)
                context.abort(grpc.StatusCode.UNAVAILABLE,
                              f"failing attempt {request.attempt} of {self._fail_first_n} on purpose (FAIL_FIRST_N)")
            # A caller that has given up gets no effect; the dispatcher retries.
            left = context.time_remaining()
            if not context.is_active() or (left is not None and left <= 0):
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the event was applied")
            self._store.add({"source": ev.source, "id": ev.id, "type": ev.type,
                             "subscription": request.subscription, "attempt": request.attempt})
        log("event handled", type=ev.type, subject=ev.subject, **base, **facts)
        return consumer_pb2.DeliverResponse()

    @staticmethod
    def _reject(context, base, reason):
        log("event rejected", reason=reason, code="INVALID_ARGUMENT", **base)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, reason)


def settings():
    addr = os.environ.get("LISTEN_ADDR", "127.0.0.1:9111")
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("LISTEN_ADDR must be host:port")
    raw = os.environ.get("FAIL_FIRST_N", "0")
    if not raw.isdigit():
        raise ValueError("FAIL_FIRST_N must be a non-negative integer")
    return addr, os.environ.get("PROCESSED_FILE", "./processed.jsonl"), int(raw)


def main():
    try:
        addr, processed, fail_first_n = settings()
        store = ProcessedStore(processed)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        consumer_pb2_grpc.add_EventConsumerServiceServicer_to_server(Consumer(store, fail_first_n), server)
        port = server.add_insecure_port(addr)
        if port == 0:
            raise OSError(f"cannot listen on {addr}")
    except (ValueError, OSError, RuntimeError) as e:
        log("cannot start", error=str(e))
        return 2
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log("listening", addr=f"{addr.rpartition(':')[0]}:{port}")
    stop.wait()
    server.stop(grace=5).wait()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
