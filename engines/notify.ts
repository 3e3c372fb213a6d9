// Webhook notifications (Slack-compatible JSON). A notification that cannot be delivered never
// breaks a rollout: the outcome is returned and lands in the report instead. No Pulumi inside.

export type NotificationEvent = "start" | "success" | "failure" | "rollback";

export interface Notification {
  readonly event: NotificationEvent;
  readonly stack: string;
  readonly release: string;
  /** One or more lines of summary. */
  readonly summary: string;
  /** What the rollout did so far (release, backup, migrations, images, checks): the notice's fields. */
  readonly facts?: readonly NoticeFact[];
}

/** One labelled fact of a notice, e.g. `Backup`: `1.4 MiB, sha256 9f8e...`. */
export interface NoticeFact {
  readonly label: string;
  readonly value: string;
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

/** Slack's limits: header text, section text, one field, fields per section. */
const LIMITS = { header: 150, section: 3000, field: 2000, fields: 10 };

/** Text for Slack's mrkdwn: `&`, `<` and `>` are control characters there and must be escaped. */
export function mrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * The Slack-compatible payload: Block Kit `blocks` (a header, the summary, the facts as fields, a
 * context line) for Slack, `text` as the fallback that notifications and other chat webhooks show,
 * and the event, stack and release as plain fields for any other receiver.
 */
export function slackPayload(n: Notification): Record<string, unknown> {
  const headline = `${ICONS[n.event]} rollout ${n.event}: release ${n.release} on ${n.stack}`;
  const facts = (n.facts ?? []).slice(0, LIMITS.fields);
  const blocks: Record<string, unknown>[] = [
    { type: "header", text: { type: "plain_text", text: cut(headline, LIMITS.header), emoji: true } },
    { type: "section", text: { type: "mrkdwn", text: cut(mrkdwn(n.summary || n.event), LIMITS.section) } },
  ];
  if (facts.length > 0) {
    blocks.push({
      type: "section",
      fields: facts.map((f) => ({
        type: "mrkdwn",
        text: cut(`*${mrkdwn(f.label)}*\n${mrkdwn(f.value)}`, LIMITS.field),
      })),
    });
  }
  blocks.push({
    type: "context",
    elements: [{ type: "mrkdwn", text: mrkdwn(`stack ${n.stack} · release ${n.release} · ${n.event}`) }],
  });
  return {
    text: [headline, n.summary, ...(n.facts ?? []).map((f) => `${f.label}: ${f.value}`)].join("\n"),
    blocks,
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
