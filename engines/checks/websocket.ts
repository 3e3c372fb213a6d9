// The WebSocket check: connect (headers may hold secrets), optionally send one message, and judge
// the first reply (text it must contain, JSON fields and matchers) within a latency budget. No
// Pulumi inside; serialized by value into a dynamic provider, so only modules and plain functions.
import WebSocket from "ws";
import { quiet, type Progress } from "../progress";
import { describeField, judgeFields, type FieldExpectation } from "./match";
import { fillSecrets, hide } from "./request";

export interface WebSocketCheckSpec {
  readonly name: string;
  /** `ws://` or `wss://`. */
  readonly url: string;
  /** Handshake headers; `{secret:NAME}` in them is filled from `secrets`. */
  readonly headers?: Record<string, string>;
  /** The values of the secrets the headers and the message name; never in a message. */
  readonly secrets?: Record<string, string>;
  /** A text message sent once connected; without it, the check waits for the server's first message. */
  readonly send?: string;
  /** Text the reply must contain. */
  readonly expectContains: readonly string[];
  /** JSON fields of the reply and what they must be. */
  readonly expectJson: Record<string, FieldExpectation>;
  /** Connect to reply slower than this fails the attempt. */
  readonly latencyBudgetMs: number;
  /** No attempt waits longer than this for the connection and the reply. */
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryIntervalMs: number;
}

export interface WebSocketCheckResult {
  readonly name: string;
  readonly url: string;
  readonly passed: true;
  readonly expected: string;
  /** From connecting to the reply. */
  readonly latencyMs: number;
  readonly attempts: number;
  readonly elapsedMs: number;
}

export function describeWebSocketExpectation(spec: WebSocketCheckSpec): string {
  const parts = [spec.send !== undefined ? "a reply to the message" : "a first message"];
  for (const text of spec.expectContains) parts.push(`containing ${JSON.stringify(text)}`);
  for (const [field, e] of Object.entries(spec.expectJson)) parts.push(describeField(field, e));
  parts.push(`within ${spec.latencyBudgetMs} ms`);
  return parts.join(", ");
}

/** Why a reply does not pass, or undefined when it does. */
export function judgeReply(spec: WebSocketCheckSpec, reply: string, latencyMs: number): string | undefined {
  const problems: string[] = [];
  for (const text of spec.expectContains) {
    if (!reply.includes(text)) problems.push(`a reply without ${JSON.stringify(text)}`);
  }
  if (Object.keys(spec.expectJson).length > 0) {
    try {
      problems.push(...judgeFields(JSON.parse(reply), spec.expectJson));
    } catch {
      problems.push(`a reply that is not JSON: ${JSON.stringify(reply.slice(0, 120))}`);
    }
  }
  if (latencyMs > spec.latencyBudgetMs)
    problems.push(`latency ${latencyMs} ms (budget ${spec.latencyBudgetMs} ms)`);
  return problems.length === 0 ? undefined : problems.join(", ");
}

/**
 * One attempt: connect, send the message if any, and judge each message that comes until one passes
 * (a server may greet before it answers). Resolves with the passing message's latency; rejects with
 * the last message's problem, or why none came.
 */
function attempt(spec: WebSocketCheckSpec, where: string): Promise<number> {
  const fill = (text: string) => fillSecrets(text, spec.secrets ?? {}, where);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k] = fill(v);
  const message = spec.send === undefined ? undefined : fill(spec.send);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let last: string | undefined;
    const socket = new WebSocket(spec.url, { headers, handshakeTimeout: spec.timeoutMs });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(last ? `got ${last}` : `got no reply within ${spec.timeoutMs} ms`));
    }, spec.timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.close();
    };
    socket.on("unexpected-response", (_req, res) => {
      done();
      reject(new Error(`got no reply (the handshake answered HTTP ${res.statusCode})`));
    });
    socket.on("error", (err: Error & { code?: string }) => {
      done();
      reject(new Error(`got no reply (${err.code ?? err.message})`));
    });
    socket.on("close", (code) => {
      done();
      reject(
        new Error(last ? `got ${last}` : `got no reply (the server closed the connection, code ${code})`),
      );
    });
    socket.on("open", () => {
      if (message !== undefined) socket.send(message);
    });
    socket.on("message", (data: WebSocket.RawData) => {
      const latencyMs = Math.round(performance.now() - started);
      last = judgeReply(spec, data.toString(), latencyMs);
      if (last === undefined) {
        done();
        resolve(latencyMs);
      }
    });
  });
}

/** Runs the check with retries; throws naming the check, what it expected and what came back. */
export async function runWebSocketCheck(
  spec: WebSocketCheckSpec,
  progress: Progress = quiet,
): Promise<WebSocketCheckResult> {
  const started = performance.now();
  const where = `WebSocket check \`${spec.name}\``;
  const secrets = Object.values(spec.secrets ?? {});
  let last = "no attempt was made";
  let attempts = 0;
  while (attempts <= spec.retries) {
    attempts++;
    try {
      const latencyMs = await attempt(spec, where);
      return {
        name: spec.name,
        url: spec.url,
        passed: true,
        expected: describeWebSocketExpectation(spec),
        latencyMs,
        attempts,
        elapsedMs: Math.round(performance.now() - started),
      };
    } catch (err) {
      last = hide((err as Error).message, secrets);
    }
    if (attempts > spec.retries) break;
    progress(`${where}: attempt ${attempts} of ${spec.retries + 1} ${last}; trying again`);
    await new Promise((resolve) => setTimeout(resolve, spec.retryIntervalMs));
  }
  throw new Error(
    `${where} failed: ${spec.url} expected ${describeWebSocketExpectation(spec)}; ${last} on attempt ${attempts} ` +
      `after ${((performance.now() - started) / 1000).toFixed(1)} s. Next: read the service's logs, then fix forward or roll back.`,
  );
}
