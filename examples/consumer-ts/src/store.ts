// The processed set: which (source, id) pairs this consumer has applied, kept in
// a JSON-lines file so that it survives restarts. Appending the line IS the
// effect of this example consumer; a real one records the pair in the same
// database transaction as its own effect.
import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync } from "node:fs";

/** One applied event, as written to the file. */
export interface Processed {
  source: string;
  id: string;
  type: string;
  subscription: string;
  attempt: number;
  handledAt: string;
}

// A separator that cannot occur in either part once JSON-encoded.
const keyOf = (source: string, id: string): string => JSON.stringify([source, id]);

export class ProcessedStore {
  private readonly seen = new Set<string>();
  private readonly fd: number;

  /** Opens (creating if needed) the file at path and loads what it holds. */
  constructor(readonly path: string) {
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        const p = JSON.parse(line) as Processed;
        this.seen.add(keyOf(p.source, p.id));
      } catch {
        // A torn last line from a crash mid-write: the event was not
        // acknowledged, so the dispatcher delivers it again.
      }
    }
    this.fd = openSync(path, "a");
  }

  has(source: string, id: string): boolean {
    return this.seen.has(keyOf(source, id));
  }

  /**
   * Records p durably (write + fsync) before returning. It is synchronous on
   * purpose: Node runs one callback at a time, so has() and add() with no await
   * between them cannot interleave with a concurrent duplicate delivery.
   */
  add(p: Processed): void {
    appendFileSync(this.fd, JSON.stringify(p) + "\n");
    fsyncSync(this.fd);
    this.seen.add(keyOf(p.source, p.id));
  }

  close(): void {
    closeSync(this.fd);
  }
}
