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
  /** HTTP status, or the connection error. */
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

/** Posts the notification; never throws. */
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
    const cause = (err as { cause?: { code?: string } }).cause;
    return {
      event: n.event,
      delivered: false,
      detail: cause?.code ?? (err as Error).message,
      latencyMs: Math.round(performance.now() - started),
      sentAt,
    };
  }
}
