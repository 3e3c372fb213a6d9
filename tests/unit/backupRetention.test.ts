import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  applyRetention,
  backupFileName,
  parseBackupFileName,
  parseTocTables,
  sanitizeStackName,
  stackBackupDir,
} from "../../engines/backup";

describe("backup file names", () => {
  const when = new Date("2025-01-31T14:03:09.123Z");
  const cases: [string, string, string, string][] = [
    ["plain", "prod", "1.4.0", "prod_1.4.0_20250131T140309Z.dump"],
    [
      "release with slash and plus",
      "prod",
      "feature/x+build.5",
      "prod_feature-x-build.5_20250131T140309Z.dump",
    ],
    ["release keeps underscores", "prod", "v1_2", "prod_v1_2_20250131T140309Z.dump"],
    ["stack underscore becomes dash", "prod_eu", "1.0.0", "prod-eu_1.0.0_20250131T140309Z.dump"],
    ["qualified stack name", "org/proj/prod", "1.0.0", "org-proj-prod_1.0.0_20250131T140309Z.dump"],
    ["dots and dashes trimmed", "..prod-", "-1.0.0.", "prod_1.0.0_20250131T140309Z.dump"],
  ];
  for (const [name, stack, release, expected] of cases) {
    it(name, () => {
      assert.equal(backupFileName(stack, release, when), expected);
      assert.deepEqual(parseBackupFileName(expected), {
        stack: sanitizeStackName(stack),
        release: expected.split("_").slice(1, -1).join("_"),
        timestamp: "20250131T140309Z",
      });
    });
  }

  it("refuses a stack that would escape the backup root", () => {
    assert.throws(
      () => backupFileName("..", "1.0.0", when),
      /^Error: stack name "\.\." has no letters or digits to put in a backup file name; use a value like "prod"$/,
    );
    assert.throws(() => stackBackupDir("/backups", "/"), /stack name "\/" has no letters or digits/);
  });

  it("refuses an invalid date", () => {
    assert.throws(() => backupFileName("prod", "1.0.0", new Date("nope")), /is not a valid date/);
  });

  const notBackups = [
    "prod_1.0.0_20250131T140309Z.dump.failed",
    "prod_1.0.0_20250131T140309Z.dump.partial",
    "prod_1.0.0_20250131T140309Z.dump.sha256",
    "prod_1.0.0_2025-01-31.dump",
    "prod_20250131T140309Z.dump",
    "notes.txt",
  ];
  for (const name of notBackups) {
    it(`does not take ${name} for a backup`, () => assert.equal(parseBackupFileName(name), undefined));
  }
});

describe("applyRetention", () => {
  let root: string;
  let folder: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "retention-"));
    folder = stackBackupDir(root, "prod");
    fs.mkdirSync(folder, { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Creates a backup of `prod` with its sidecar; `day` orders them. */
  function backup(day: number, release = "1.0.0"): string {
    const file = path.join(folder, backupFileName("prod", release, new Date(Date.UTC(2025, 0, day, 12))));
    fs.writeFileSync(file, "dump");
    fs.writeFileSync(`${file}.sha256`, "sum");
    return file;
  }
  const remaining = () => fs.readdirSync(folder).sort();
  const names = (files: string[]) => files.map((f) => path.basename(f));

  const cases: { name: string; days: number[]; keep: number; removedDays: number[] }[] = [
    { name: "keep 0 keeps all", days: [1, 2, 3], keep: 0, removedDays: [] },
    { name: "keep 1 keeps the newest", days: [1, 2, 3], keep: 1, removedDays: [1, 2] },
    { name: "keep 2 of 4", days: [4, 1, 3, 2], keep: 2, removedDays: [1, 2] },
    { name: "keep equal to the count", days: [1, 2], keep: 2, removedDays: [] },
    { name: "keep more than the count", days: [1, 2], keep: 5, removedDays: [] },
    { name: "no backups yet", days: [], keep: 1, removedDays: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const files = new Map(c.days.map((d) => [d, backup(d)]));
      const removed = applyRetention(root, "prod", c.keep, []);
      assert.deepEqual(
        removed,
        c.removedDays.map((d) => files.get(d)),
      );
      const kept = c.days.filter((d) => !c.removedDays.includes(d)).map((d) => files.get(d)!);
      assert.deepEqual(remaining(), names(kept.flatMap((f) => [f, `${f}.sha256`])).sort());
    });
  }

  it("orders by the timestamp in the name, not by mtime", () => {
    const older = backup(1);
    const newer = backup(2);
    // The older backup looks freshest on disk, as after a copy or a restore from offsite.
    fs.utimesSync(older, new Date(), new Date());
    fs.utimesSync(newer, new Date(2000, 0, 1), new Date(2000, 0, 1));
    assert.deepEqual(applyRetention(root, "prod", 1, []), [older]);
    assert.deepEqual(remaining(), names([newer, `${newer}.sha256`]));
  });

  it("never deletes a protected path, even the oldest", () => {
    const oldest = backup(1);
    const middle = backup(2);
    const newest = backup(3);
    assert.deepEqual(applyRetention(root, "prod", 1, [oldest]), [middle]);
    assert.deepEqual(remaining(), names([oldest, `${oldest}.sha256`, newest, `${newest}.sha256`]).sort());
  });

  it("leaves foreign and non-matching files alone", () => {
    const old = backup(1);
    const newest = backup(2);
    const foreign = [
      "prod-eu_1.0.0_20240101T000000Z.dump", // another stack's backup, misplaced here
      "staging_1.0.0_20240101T000000Z.dump",
      "prod_1.0.0_20240101T000000Z.dump.failed",
      "prod_1.0.0_20240101T000000Z.dump.partial",
      "prod_1.0.0_20240101.dump",
      "notes.txt",
    ];
    for (const f of foreign) fs.writeFileSync(path.join(folder, f), "x");
    fs.mkdirSync(path.join(folder, "prod_1.0.0_20200101T000000Z.dump")); // a folder with a backup's name
    const otherStack = stackBackupDir(root, "staging");
    fs.mkdirSync(otherStack);
    const otherFile = path.join(otherStack, "staging_1.0.0_20200101T000000Z.dump");
    fs.writeFileSync(otherFile, "x");

    assert.deepEqual(applyRetention(root, "prod", 1, []), [old]);
    assert.deepEqual(
      remaining(),
      [
        ...foreign,
        "prod_1.0.0_20200101T000000Z.dump",
        path.basename(newest),
        `${path.basename(newest)}.sha256`,
      ].sort(),
    );
    assert.ok(fs.existsSync(otherFile));
  });

  it("removes a backup that has no sidecar", () => {
    const old = backup(1);
    fs.rmSync(`${old}.sha256`);
    backup(2);
    assert.deepEqual(applyRetention(root, "prod", 1, []), [old]);
  });

  it("breaks timestamp ties by name", () => {
    const a = backup(1, "1.0.0");
    const b = backup(1, "1.1.0");
    assert.deepEqual(applyRetention(root, "prod", 1, []), [a]);
    assert.ok(fs.existsSync(b));
  });

  it("returns nothing for a stack without a folder", () => {
    assert.deepEqual(applyRetention(root, "never-backed-up", 1, []), []);
  });

  for (const keep of [-1, 1.5, Number.NaN]) {
    it(`refuses keep=${keep}`, () => {
      assert.throws(
        () => applyRetention(root, "prod", keep, []),
        new RegExp(
          `^Error: backup retention keep=${keep} is not a whole number of backups; use 0 to keep all`,
        ),
      );
    });
  }
});

describe("parseTocTables", () => {
  // From `pg_restore --list` of a PostgreSQL 15 custom-format dump.
  const listing = [
    ";",
    "; Archive created at 2025-01-31 14:03:09 UTC",
    ";     dbname: shop",
    ";",
    "; Selected TOC Entries:",
    ";",
    "6; 2615 16477 SCHEMA - my schema postgres",
    "7; 2615 16500 SCHEMA - audit postgres",
    "216; 1259 16478 TABLE my schema odd name postgres",
    "215; 1259 16470 TABLE public items postgres",
    "230; 1259 16501 TABLE audit log app_owner",
    "217; 1259 16481 MATERIALIZED VIEW public mv postgres",
    "218; 1259 16485 TABLE public parted postgres",
    "219; 1259 16488 TABLE public parted_1 postgres",
    "221; 1259 16495 VIEW public v postgres",
    "222; 1259 16496 SEQUENCE public items_id_seq postgres",
    "223; 1259 16497 FOREIGN TABLE public remote postgres",
    "3217; 0 0 TABLE ATTACH public parted_1 postgres",
    "3364; 0 16478 TABLE DATA my schema odd name postgres",
    "3363; 0 16470 TABLE DATA public items postgres",
    "3365; 0 16481 MATERIALIZED VIEW DATA public mv postgres",
    "3219; 2606 16476 CONSTRAINT public items items_pkey postgres",
  ].join("\n");

  it("lists TABLE entries only, schema-qualified and sorted", () => {
    assert.deepEqual(parseTocTables(listing), [
      "audit.log",
      "my schema.odd name",
      "public.items",
      "public.parted",
      "public.parted_1",
    ]);
  });

  it("reads Windows line endings", () => {
    assert.deepEqual(parseTocTables(listing.replace(/\n/g, "\r\n")).length, 5);
  });

  it("finds no tables in an empty listing", () => {
    assert.deepEqual(parseTocTables(";\n; Selected TOC Entries:\n;\n"), []);
  });
});
