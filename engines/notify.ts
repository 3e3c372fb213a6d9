// Webhook notifications (Slack-compatible JSON). A notification that cannot be delivered never
// breaks a rollout: the outcome is returned and lands in the report instead. No Pulumi inside.

export type NotificationEvent = "start" | "success" | "failure" | "rollback";

export interface Notification {
  readonly event: NotificationEvent;
  readonly stack: string;
  readonly release: string;
  /** One or more lines of summary. */
  readonly summary: string;
}

export interface DeliveryResult {
  readonly event: NotificationEvent;
  readonly delivered: boolean;
  /** `HTTP <status>`, or the error code (`ECONNREFUSED`, `ENOTFOUND`, `timed out`); never the URL. */
  readonly detail: string;
  readonly latencyMs: number;
  readonly sentAt: string;
}

const ICONS: Record<NotificationEvent, string> = {
  start: ":construction:",
  success: ":white_check_mark:",
  failure: ":x:",
  rollback: ":rewind:",
};

/** The Slack-compatible payload: `text` for Slack and most chat webhooks, plus structured fields. */
export function slackPayload(n: Notification): Record<string, unknown> {
  const headline = `${ICONS[n.event]} rollout ${n.event}: release ${n.release} on ${n.stack}`;
  return {
    text: `${headline}\n${n.summary}`,
    event: n.event,
    stack: n.stack,
    release: n.release,
  };
}

/**
 * The failure of a request, in words that cannot hold the URL: the webhook URL is a secret (its
 * path or query often is the credential), and fetch's messages and causes may quote it, its host
 * or its path. Only error codes, error names and fixed phrases come out of here.
 */
export function describeFailure(err: unknown): string {
  const error = err as { name?: unknown; message?: unknown; cause?: { code?: unknown } };
  if (error?.name === "TimeoutError") return "timed out";
  if (error?.name === "AbortError") return "aborted";
  const code = error?.cause?.code;
  if (code === "ERR_INVALID_URL") return "invalid webhook URL";
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]*$/.test(code)) return code;
  if (err instanceof TypeError && typeof error.message === "string" && /credentials/.test(error.message)) {
    return "invalid webhook URL: it holds a user name or password, which fetch refuses";
  }
  return "request failed";
}

/** Posts the notification; never throws. `detail` never holds the URL or any part of it. */
export async function sendNotification(
  url: string,
  n: Notification,
  timeoutMs: number,
): Promise<DeliveryResult> {
  const started = performance.now();
  const sentAt = new Date().toISOString();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(slackPayload(n)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return {
      event: n.event,
      delivered: response.ok,
      detail: `HTTP ${response.status}`,
      latencyMs: Math.round(performance.now() - started),
      sentAt,
    };
  } catch (err) {
    return {
      event: n.event,
      delivered: false,
      detail: describeFailure(err),
      latencyMs: Math.round(performance.now() - started),
      sentAt,
    };
  }
}
