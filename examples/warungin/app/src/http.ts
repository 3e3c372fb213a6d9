// What every Warungin service of the example shares: answering JSON, reading a JSON body, errors
// that carry their status, passing a request on to another service, and listening until SIGTERM.
import http from "node:http";

export type Json = Record<string, unknown>;
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export const version = process.env.APP_VERSION ?? "0.0.0-dev";
export const role = process.env.ROLE ?? "backend";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function send(
  res: http.ServerResponse,
  status: number,
  body?: unknown,
  type = "application/json",
): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function readJson(req: http.IncomingMessage): Promise<Json> {
  const body = await readBody(req);
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString("utf8")) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as Json;
  } catch {
    throw new HttpError(400, "the body must be a JSON object");
  }
}

/** Passes the request on to `upstream` (an http://host:port) and its answer back, as a proxy does. */
export async function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstream: string,
): Promise<void> {
  const body = await readBody(req);
  const headers = Object.fromEntries(
    Object.entries(req.headers).filter(
      ([k, v]) => typeof v === "string" && !["host", "connection"].includes(k),
    ),
  ) as Record<string, string>;
  try {
    const answer = await fetch(`${upstream}${req.url ?? "/"}`, {
      method: req.method,
      headers,
      body: body.length > 0 ? body : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const type = answer.headers.get("content-type");
    res.writeHead(answer.status, type ? { "content-type": type } : {});
    res.end(Buffer.from(await answer.arrayBuffer()));
  } catch (err) {
    console.warn(`WARN ${role}: ${upstream} did not answer: ${(err as Error).message}`);
    send(res, 502, { error: `${upstream} did not answer` });
  }
}

/** Serves `handler` on HOST:PORT, logging the start and errors, and stops cleanly on SIGTERM. */
export function serve(handler: Handler, onStop: () => Promise<void> = async () => undefined): void {
  const port = Number(process.env.PORT ?? "8080");
  const host = process.env.HOST ?? "127.0.0.1";
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: Error) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      console.error(`ERROR ${role} ${req.method} ${req.url}: ${err.message}`);
      send(res, 500, { error: err.message });
    });
  });
  server.listen(port, host, () =>
    console.log(`warungin-${role} ${version} listening on http://${host}:${port}`),
  );
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => server.close(() => void onStop().finally(() => process.exit(0))));
  }
}
