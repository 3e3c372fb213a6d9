import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseRollbackTarget, historyLines, parseDuration, type HistoryEntry } from "../../deploy/history";

function entry(
  version: number,
  result: string,
  release?: { id: string; image: string; schemaTarget?: string },
  kind = "update",
): HistoryEntry {
  return {
    version,
    kind,
    result,
    message: `update ${version}`,
    startTime: new Date(Date.UTC(2026, 10, 21, 22, version)),
    config: release ? { "rollout:release": { value: JSON.stringify(release), secret: false } } : {},
  };
}

const r100 = { id: "r-1.0.0", image: "sample-app:1.0.0", schemaTarget: "0002" };
const r110 = { id: "r-1.1.0", image: "sample-app:1.1.0", schemaTarget: "0003" };
const r120 = { id: "r-1.2.0", image: "sample-app:1.2.0", schemaTarget: "0004" };

const history = [
  entry(1, "succeeded", r100),
  entry(2, "succeeded", r100),
  entry(3, "succeeded", r110),
  entry(4, "succeeded", undefined, "refresh"),
  entry(5, "failed", r120),
];

describe("chooseRollbackTarget", () => {
  it("goes back from a failed release to the last successful different release", () => {
    const choice = chooseRollbackTarget(history);
    assert.deepEqual(choice.current, { version: 5, result: "failed", release: r120 });
    assert.deepEqual(choice.target, { version: 3, release: r110 });
  });

  it("goes back from a successful release to the one before it", () => {
    const choice = chooseRollbackTarget(history.slice(0, 3));
    assert.deepEqual(choice.target, { version: 2, release: r100 });
  });

  it("takes --to N when N is a successful update", () => {
    assert.deepEqual(chooseRollbackTarget(history, 1).target, { version: 1, release: r100 });
  });

  const refusals: [string, number | undefined, HistoryEntry[], RegExp][] = [
    [
      "a failed update",
      5,
      history,
      /^Error: update 5 failed: its release never ran to the end, so it is no state to go back to; successful updates: 3 \(r-1\.1\.0\), 2 \(r-1\.0\.0\), 1 \(r-1\.0\.0\)$/,
    ],
    [
      "an unknown version",
      42,
      history,
      /^Error: there is no update 42 in the stack history; successful updates: 3 /,
    ],
    ["a refresh", 4, history, /^Error: update 4 was a refresh, not an update/],
    [
      "the current release",
      3,
      history.slice(0, 3),
      /^Error: update 3 has the release that is current \(r-1\.1\.0\); pick an earlier one$/,
    ],
    [
      "a history with only one release",
      undefined,
      history.slice(0, 2),
      /^Error: no successful update before update 2 has a release other than r-1\.0\.0; nothing to roll back to/,
    ],
    ["an empty history", undefined, [], /^Error: the stack has no update with a release to roll back from/],
  ];
  for (const [name, to, h, message] of refusals) {
    it(`refuses ${name}`, () => assert.throws(() => chooseRollbackTarget(h, to), message));
  }
});

describe("historyLines", () => {
  it("lists newest first with release ids", () => {
    const lines = historyLines(history);
    assert.deepEqual(
      lines.map((l) => [l.version, l.kind, l.result, l.release]),
      [
        [5, "update", "failed", "r-1.2.0"],
        [4, "refresh", "succeeded", "-"],
        [3, "update", "succeeded", "r-1.1.0"],
        [2, "update", "succeeded", "r-1.0.0"],
        [1, "update", "succeeded", "r-1.0.0"],
      ],
    );
  });
});

describe("parseDuration", () => {
  const ok: [string, number][] = [
    ["90s", 90],
    ["15m", 900],
    ["4h", 14400],
    ["1h30m", 5400],
    ["2m5s", 125],
  ];
  for (const [text, seconds] of ok)
    it(`${text} = ${seconds} s`, () => assert.equal(parseDuration(text), seconds));
  for (const bad of ["", "4 hours", "-5m", "0s", "1d"]) {
    it(`refuses ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseDuration(bad), /write it like 90s|is zero/));
  }
});

describe("numbered", () => {
  it("numbers a file backend's history (all version 0) oldest first", () => {
    const raw = [entry(0, "failed", r120), entry(0, "succeeded", r110), entry(0, "succeeded", r100)].map(
      (e, i) => ({
        ...e,
        startTime: new Date(Date.UTC(2026, 10, 21, 22, 10 - i)),
      }),
    );
    const choice = chooseRollbackTarget(raw);
    assert.deepEqual(choice.current, { version: 3, result: "failed", release: r120 });
    assert.deepEqual(choice.target, { version: 2, release: r110 });
    assert.deepEqual(
      historyLines(raw).map((l) => l.version),
      [3, 2, 1],
    );
  });
});

describe("numbered by time, not by listing order", () => {
  it("orders by start time when the listing is shuffled", () => {
    const at = (minute: number) => new Date(Date.UTC(2026, 10, 21, 22, minute));
    const raw = [
      { ...entry(0, "succeeded", r100), startTime: at(1) },
      { ...entry(0, "failed", r120), startTime: at(9) },
      { ...entry(0, "succeeded", r110), startTime: at(5) },
    ];
    assert.deepEqual(
      historyLines(raw).map((l) => [l.version, l.release]),
      [
        [3, "r-1.2.0"],
        [2, "r-1.1.0"],
        [1, "r-1.0.0"],
      ],
    );
  });
});

describe("rollbacks in the history", () => {
  const mark = (undoes: string, toUpdate: number, reason?: string) => ({
    "rollout:rollback": { value: JSON.stringify({ undoes, toUpdate, reason }), secret: false },
  });
  const rollback = (
    version: number,
    result: string,
    release: typeof r100,
    undoes: string,
    toUpdate: number,
  ) => {
    const e = entry(version, result, release);
    return { ...e, config: { ...e.config, ...mark(undoes, toUpdate) } };
  };
  const base = [entry(1, "succeeded", r100), entry(2, "succeeded", r110), entry(3, "succeeded", r120)];

  it("refuses a rollback right after a rollback without --to, naming both releases", () => {
    assert.throws(
      () => chooseRollbackTarget([...base, rollback(4, "succeeded", r110, "r-1.2.0", 2)]),
      /update 4 already rolled r-1\.2\.0 back to r-1\.1\.0; rolling back again would go further back than that, so name the update to go back to with --to/,
    );
  });

  it("takes --to after a rollback", () => {
    const choice = chooseRollbackTarget([...base, rollback(4, "succeeded", r110, "r-1.2.0", 2)], 1);
    assert.deepEqual(choice.target, { version: 1, release: r100 });
    assert.equal(choice.undoes, "r-1.1.0");
  });

  it("keeps the target of a failed rollback when retried, and still undoes the same release", () => {
    const choice = chooseRollbackTarget([...base, rollback(4, "failed", r110, "r-1.2.0", 2)]);
    assert.deepEqual(choice.target, { version: 2, release: r110 });
    assert.equal(choice.undoes, "r-1.2.0");
    assert.equal(choice.retryOf, 4);
  });

  it("never picks a release a rollback undid, even after a plain up in between", () => {
    const history = [...base, rollback(4, "succeeded", r110, "r-1.2.0", 2), entry(5, "succeeded", r110)];
    const choice = chooseRollbackTarget(history);
    assert.deepEqual(choice.target, { version: 1, release: r100 });
  });

  it("lists rollbacks as such", () => {
    const lines = historyLines([...base, rollback(4, "succeeded", r110, "r-1.2.0", 2)]);
    assert.deepEqual(
      lines.map((l) => l.kind),
      ["rollback", "update", "update", "update"],
    );
  });
});
