import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  evaluateWindow,
  windowProblems,
  type MaintenanceWindow,
} from "../../engines/gates/maintenanceWindow";
import { approvalProblems } from "../../engines/gates/approvals";

// The TERP window: Tue-Thu 22:00-02:00 Eastern.
const terp: MaintenanceWindow = {
  days: ["tue", "wed", "thu"],
  start: "22:00",
  end: "02:00",
  timeZone: "America/New_York",
};

describe("evaluateWindow", () => {
  const cases: [string, string, boolean, number][] = [
    // [description, UTC instant, open?, minutes left / until open]
    ["Tuesday 23:00 EST is inside", "2026-11-25T04:00:00Z", true, 180],
    ["Wednesday 01:30 EST (Tuesday's window past midnight) is inside", "2026-11-25T06:30:00Z", true, 30],
    ["Wednesday 02:00 EST is outside (end is exclusive)", "2026-11-25T07:00:00Z", false, 1200],
    ["Monday 23:00 EST is outside; opens Tuesday 22:00", "2026-11-24T04:00:00Z", false, 1380],
    ["Friday 01:00 EST belongs to Thursday's window", "2026-11-27T06:00:00Z", true, 60],
    ["Saturday 01:00 EST is outside; next is Tuesday", "2026-11-28T06:00:00Z", false, 4 * 1440 - 180],
    // DST: on 2026-03-10 (Tue) New York is on EDT (UTC-4); 22:00 EDT = 02:00Z next day.
    ["Tuesday 22:30 EDT after the spring change is inside", "2026-03-11T02:30:00Z", true, 210],
  ];
  for (const [name, instant, open, minutes] of cases) {
    it(name, () => {
      const verdict = evaluateWindow(terp, new Date(instant));
      assert.equal(verdict.open, open, verdict.summary);
      assert.equal(verdict.minutes, minutes, verdict.summary);
    });
  }

  it("says when the next window opens, in the window's zone", () => {
    const verdict = evaluateWindow(terp, new Date("2026-11-24T04:00:00Z"));
    assert.equal(
      verdict.summary,
      "outside the maintenance window (tue,wed,thu 22:00-02:00 America/New_York): it is now 2026-11-23T23:00:00-05:00; " +
        "the next window opens at 2026-11-24T22:00:00-05:00, in 1380 min",
    );
  });

  it("a same-day window in Bangkok", () => {
    const w: MaintenanceWindow = { days: ["sun"], start: "01:00", end: "05:00", timeZone: "Asia/Bangkok" };
    assert.equal(evaluateWindow(w, new Date("2026-11-21T19:00:00Z")).open, true); // Sun 02:00 +07
    assert.equal(evaluateWindow(w, new Date("2026-11-21T17:00:00Z")).open, false); // Sat 24:00 +07
  });
});

describe("windowProblems", () => {
  it("names a bad time zone, bad clock values and an empty day list", () => {
    assert.deepEqual(windowProblems({ days: [], start: "25:00", end: "2:00", timeZone: "Mars/Olympus" }), [
      'timeZone "Mars/Olympus" is not an IANA time zone; use a name such as "America/New_York" or "Asia/Bangkok"',
      'maintenance window start "25:00" is not a time; use HH:MM, e.g. "22:00"',
      'maintenance window end "2:00" is not a time; use HH:MM, e.g. "22:00"',
      'days is empty; list the weekdays the window opens, e.g. ["tue", "wed"]',
    ]);
  });
  it("accepts a good window", () => assert.deepEqual(windowProblems(terp), []));
});

describe("approvalProblems", () => {
  const digest = "1a2b3c4d5e6f".padEnd(64, "0");
  const release = { id: "2026.11.21-1", digest };

  it("requires every role for this release and its content", () => {
    const problems = approvalProblems(
      ["tech-lead", "dba"],
      [
        { role: "tech-lead", by: "alice", release: "2026.11.21-1", digest: "1a2b3c4d5e6f" },
        { role: "dba", by: "bob", release: "2026.11.14-1", digest: "1a2b3c4d5e6f" },
      ],
      release,
    );
    assert.deepEqual(problems, [
      "approval by `dba` for release 2026.11.21-1 (digest 1a2b3c4d5e6f) is missing (found only: bob for 2026.11.14-1 " +
        "(digest 1a2b3c4d5e6f); an approval of other content does not count); " +
        'add {role: dba, by: <name>, release: "2026.11.21-1", digest: "1a2b3c4d5e6f"} under rollout:approvals.given in Pulumi.<stack>.yaml',
    ]);
  });

  it("does not count an approval of other content under the same release id", () => {
    const other = { role: "dba", by: "bob", release: "2026.11.21-1", digest: "ffffffffffff" };
    assert.equal(approvalProblems(["dba"], [other], release).length, 1);
  });

  it("accepts the full digest or a prefix of at least 12 digits", () => {
    for (const d of [digest, digest.slice(0, 12)]) {
      assert.deepEqual(
        approvalProblems(["dba"], [{ role: "dba", by: "bob", release: release.id, digest: d }], release),
        [],
      );
    }
  });
});
