// The parts of an HTTP request that checks and smoke steps share: `{secret:NAME}` in header and body
// values, JSON or form bodies, and keeping secret values out of messages. No Pulumi inside;
// serialized by value into dynamic providers, so only plain functions.

/** `{secret:NAME}` in a string: the value of the named secret. */
export const SECRET_TEMPLATE = /\{secret:([A-Za-z][A-Za-z0-9_-]*)\}/g;

/** The secret names a string refers to with `{secret:NAME}`. */
export function secretNamesIn(text: string): string[] {
  return [...text.matchAll(SECRET_TEMPLATE)].map((m) => m[1]);
}

/** Replaces `{secret:NAME}` with the secret's value; a name not given is an error naming it. */
export function fillSecrets(text: string, secrets: Record<string, string>, where: string): string {
  return text.replace(SECRET_TEMPLATE, (_, name: string) => {
    if (!(name in secrets)) throw new Error(`${where} uses {secret:${name}}, which was not handed to it`);
    return secrets[name];
  });
}

/** A request body: JSON, or form fields (`application/x-www-form-urlencoded`). */
export interface RequestBody {
  readonly json?: unknown;
  readonly form?: Record<string, string>;
}

/** Applies `fill` to every string in a JSON value. */
export function mapStrings(value: unknown, fill: (text: string) => string): unknown {
  if (typeof value === "string") return fill(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fill));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fill)]));
  }
  return value;
}

/** The body text and its content type, strings filled by `fill`; undefined without a body. */
export function encodeBody(
  body: RequestBody,
  fill: (text: string) => string,
): { text: string; contentType: string } | undefined {
  if (body.form !== undefined) {
    const fields = Object.entries(body.form).map(([k, v]): [string, string] => [k, fill(v)]);
    return { text: new URLSearchParams(fields).toString(), contentType: "application/x-www-form-urlencoded" };
  }
  if (body.json !== undefined) {
    return { text: JSON.stringify(mapStrings(body.json, fill)), contentType: "application/json" };
  }
  return undefined;
}

/** `text` with every secret value (four characters or more) replaced by `[secret]`. */
/**
 * Each secret with the forms it takes when a service writes it: percent-encoded (inside a
 * `DATABASE_URL`) and JSON-escaped (in a structured log line), longest first.
 */
export function secretForms(secrets: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

export function hide(text: string, secrets: Iterable<string>): string {
  let shown = text;
  for (const secret of secrets) if (secret.length >= 4) shown = shown.split(secret).join("[secret]");
  return shown;
}
