// What a JSON field of a response must be: a plain value (equality) or a matcher (type, pattern,
// length, presence). Shared by the HTTP checks and the smoke steps. No Pulumi inside; serialized by
// value into dynamic providers, so only plain functions.

/** The JSON types a matcher can ask for. */
export const JSON_TYPES = ["string", "number", "boolean", "array", "object", "null"] as const;
export type JsonType = (typeof JSON_TYPES)[number];

/** A matcher: every condition given must hold. */
export interface FieldMatcher {
  readonly type?: JsonType;
  /** A regular expression the value (a string or number, as text) must match. */
  readonly regex?: string;
  /** An array or string with at least this many elements or characters. */
  readonly minLength?: number;
  /** true: the field is there (any value, null included); false: it is absent. */
  readonly exists?: boolean;
  /** Deep equality with any JSON value. */
  readonly equals?: unknown;
}

/** A plain value is compared for equality; an object is a matcher. */
export type FieldExpectation = string | number | boolean | null | FieldMatcher;

/** The value at a dotted path (`data.items.0.id`) of a JSON value, or undefined. */
export function pick(value: unknown, dotted: string): unknown {
  let current = value;
  for (const part of dotted.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The JSON type of a value, as matchers name it. */
export function jsonType(value: unknown): JsonType | "absent" {
  if (value === undefined) return "absent";
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as JsonType;
}

/** `a string`, `an array`, `an object`. */
function aType(type: string): string {
  return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

function shown(value: unknown): string {
  if (value === undefined) return "absent";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Why the field does not meet the expectation, or undefined when it does. */
export function judgeField(field: string, actual: unknown, expected: FieldExpectation): string | undefined {
  if (expected === null || typeof expected !== "object") {
    return actual === expected
      ? undefined
      : `${field}=${shown(actual)} (expected ${JSON.stringify(expected)})`;
  }
  const problems: string[] = [];
  if (expected.exists !== undefined && expected.exists !== (actual !== undefined)) {
    problems.push(
      expected.exists ? "absent (expected it to exist)" : `${shown(actual)} (expected it absent)`,
    );
  }
  if (expected.type !== undefined && jsonType(actual) !== expected.type) {
    const seen = actual === undefined ? "absent" : `${aType(jsonType(actual))} ${shown(actual)}`;
    problems.push(`${seen} (expected ${aType(expected.type)})`);
  }
  if (expected.regex !== undefined) {
    const text = typeof actual === "string" || typeof actual === "number" ? String(actual) : undefined;
    if (text === undefined || !new RegExp(expected.regex).test(text)) {
      problems.push(`${shown(actual)} (expected to match /${expected.regex}/)`);
    }
  }
  if (expected.minLength !== undefined) {
    const length = Array.isArray(actual) || typeof actual === "string" ? actual.length : undefined;
    if (length === undefined || length < expected.minLength) {
      problems.push(
        `${length === undefined ? `${shown(actual)}, which has no length` : `length ${length}`} (expected at least ${expected.minLength})`,
      );
    }
  }
  if ("equals" in expected && !deepEqual(actual, expected.equals)) {
    problems.push(`${shown(actual)} (expected ${shown(expected.equals)})`);
  }
  return problems.length === 0 ? undefined : `${field} is ${problems.join(" and ")}`;
}

/** Every field's problem, in order; empty when all hold. */
export function judgeFields(json: unknown, expectations: Record<string, FieldExpectation>): string[] {
  return Object.entries(expectations).flatMap(([field, expected]) => {
    const problem = judgeField(field, pick(json, field), expected);
    return problem === undefined ? [] : [problem];
  });
}

/** A short statement of an expectation, for messages and the report: `items: an array of at least 1`. */
export function describeField(field: string, expected: FieldExpectation): string {
  if (expected === null || typeof expected !== "object") return `${field}=${JSON.stringify(expected)}`;
  const parts: string[] = [];
  if (expected.exists === true) parts.push("present");
  if (expected.exists === false) parts.push("absent");
  if (expected.type) parts.push(aType(expected.type));
  if (expected.regex !== undefined) parts.push(`matching /${expected.regex}/`);
  if (expected.minLength !== undefined) parts.push(`of length at least ${expected.minLength}`);
  if ("equals" in expected) parts.push(`equal to ${shown(expected.equals)}`);
  return `${field} ${parts.join(", ")}`;
}
