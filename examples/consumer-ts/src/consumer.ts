// The EventConsumerService implementation: decode the typed event, apply it once
// per (source, id), and answer with the status codes of hookmesh.consumer.v1.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";

import { EventConsumerService } from "./gen/hookmesh/consumer/v1/consumer_pb.js";
import { HasuraOperation, ScheduledKind, type Event } from "./gen/hookmesh/event/v1/event_pb.js";
import type { ProcessedStore } from "./store.js";
import type { Logger } from "./log.js";

export interface ConsumerOptions {
  store: ProcessedStore;
  log: Logger;
  /**
   * Answer UNAVAILABLE while the delivery's attempt number is at most this, to
   * show the dispatcher's retries (0: never).
   */
  failFirstN: number;
}

/** What the example logs about an event: its typed payload, without row values (they may be personal data). */
export function describe(ev: Event): Record<string, unknown> {
  const p = ev.payload;
  switch (p.case) {
    case "hasuraTable": {
      const h = p.value;
      const row = h.new ?? h.old ?? {};
      return {
        kind: "hasura_table",
        op: HasuraOperation[h.op] ?? String(h.op),
        table: `${h.schema}.${h.table}`,
        trigger: h.triggerName,
        row_id: row["id"] ?? row["sku"] ?? null,
        columns: Object.keys(h.new ?? {}).sort(),
        changed: changedColumns(h.old, h.new),
      };
    }
    case "scheduled":
      return {
        kind: "scheduled",
        schedule_kind: ScheduledKind[p.value.kind] ?? String(p.value.kind),
        name: p.value.name,
        scheduler: p.value.scheduler,
        scheduled_time: p.value.scheduledTime ? timestampDate(p.value.scheduledTime).toISOString() : null,
      };
    case "provider":
      return { kind: "provider", provider: p.value.provider, provider_event_type: p.value.providerEventType };
    case "fact":
      return {
        kind: "fact",
        service: p.value.service,
        caused_by: p.value.causedBy ? `${p.value.causedBy.source}/${p.value.causedBy.id}` : null,
      };
    default:
      return { kind: "none" };
  }
}

function changedColumns(oldRow?: Record<string, unknown>, newRow?: Record<string, unknown>): string[] {
  if (!oldRow || !newRow) return [];
  const cols = new Set([...Object.keys(oldRow), ...Object.keys(newRow)]);
  return [...cols].filter((c) => JSON.stringify(oldRow[c]) !== JSON.stringify(newRow[c])).sort();
}

/** One delivery, as Deliver or one entry of DeliverBatch carries it. */
interface Delivery {
  event?: Event;
  subscription: string;
  attempt: number;
  replay: boolean;
}

export function consumer(opts: ConsumerOptions): ServiceImpl<typeof EventConsumerService> {
  // apply handles one event once; it throws a ConnectError whose code is the answer.
  const apply = (req: Delivery, ctx: HandlerContext): void => {
    const ev = req.event;
    // Without (source, id) nothing can be de-duplicated: refuse for good.
    if (!ev) throw new ConnectError("the request carries no event", Code.InvalidArgument);
    if (ev.source === "" || ev.id === "") {
      throw new ConnectError("the event has no source or no id", Code.InvalidArgument);
    }
    if (ev.payload.case === undefined) {
      throw new ConnectError("the event has no typed payload", Code.InvalidArgument);
    }
    if (opts.store.has(ev.source, ev.id)) {
      opts.log.info("event already processed", { source: ev.source, event_id: ev.id, attempt: req.attempt, replay: req.replay });
      throw new ConnectError("already processed", Code.AlreadyExists);
    }
    if (req.attempt <= opts.failFirstN) {
      opts.log.info("failing on purpose", { source: ev.source, event_id: ev.id, attempt: req.attempt, fail_first_n: opts.failFirstN });
      throw new ConnectError(`failing attempt ${req.attempt} of ${opts.failFirstN} on purpose (FAIL_FIRST_N)`, Code.Unavailable);
    }
    // A caller that has given up gets no effect; the dispatcher retries.
    const left = ctx.timeoutMs();
    if (ctx.signal.aborted || (left !== undefined && left <= 0)) {
      throw new ConnectError("deadline passed before the event was applied", Code.DeadlineExceeded);
    }
    opts.store.add({
      source: ev.source,
      id: ev.id,
      type: ev.type,
      subscription: req.subscription,
      attempt: req.attempt,
      handledAt: new Date().toISOString(),
    });
    opts.log.info("event handled", {
      source: ev.source,
      event_id: ev.id,
      type: ev.type,
      subject: ev.subject,
      subscription: req.subscription,
      attempt: req.attempt,
      replay: req.replay,
      traceparent: ev.traceparent,
      ...describe(ev),
    });
  };
  return {
    deliver(req, ctx: HandlerContext) {
      apply(req, ctx);
      return {};
    },
    // Several events in one call, a status each, classified like Deliver's codes.
    deliverBatch(req, ctx: HandlerContext) {
      const statuses = req.deliveries.map((d) => {
        try {
          apply({ event: d.event, subscription: req.subscription, attempt: d.attempt, replay: d.replay }, ctx);
          return { code: 0, message: "" }; // google.rpc.Code OK
        } catch (err) {
          const ce = ConnectError.from(err);
          return { code: ce.code, message: ce.rawMessage };
        }
      });
      return { statuses };
    },
  };
}
