// JSON lines on stdout, shaped like the Go services' slog output.
export interface Logger {
  info(msg: string, attrs?: Record<string, unknown>): void;
  error(msg: string, attrs?: Record<string, unknown>): void;
}

export function jsonLogger(component: string, out: NodeJS.WritableStream = process.stdout): Logger {
  const write = (level: string, msg: string, attrs: Record<string, unknown> = {}): void => {
    out.write(JSON.stringify({ time: new Date().toISOString(), level, msg, component, ...attrs }) + "\n");
  };
  return {
    info: (msg, attrs) => write("INFO", msg, attrs),
    error: (msg, attrs) => write("ERROR", msg, attrs),
  };
}
