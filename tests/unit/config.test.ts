import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, imageTag, loadConfig, probeUrls } from "../../config";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const allSecrets = { databasePassword: true, appDatabasePassword: true };

const problemsOf = (raw: Record<string, unknown>, secrets: Record<string, boolean> = allSecrets) =>
  configProblems(raw, secrets);

describe("loadConfig", () => {
  it("accepts the sample config and fills defaults", () => {
    const config = loadConfig("dev", minimalRawConfig(), allSecrets);
    assert.equal(config.database.adminUser, "postgres");
    assert.equal(config.app.restart, "unless-stopped");
    assert.equal(config.app.build?.dockerfile, "Dockerfile");
    assert.equal(config.docker.host, "unix:///var/run/docker.sock");
    assert.deepEqual(config.checks[0], {
      name: "health",
      url: "http://127.0.0.1:18181/health",
      method: "GET",
      headers: {},
      expectStatus: 200,
      expectJson: { version: "{version}" },
      latencyBudgetMs: 1000,
      retries: 10,
      retryIntervalMs: 1000,
      deadlineSeconds: 60,
    });
  });

  const cases: {
    name: string;
    raw: Record<string, unknown>;
    secrets?: Record<string, boolean>;
    expect: string[];
  }[] = [
    {
      name: "missing key",
      raw: { ...minimalRawConfig(), release: undefined },
      expect: [
        "rollout:release is missing. Fix: set it in Pulumi.<stack>.yaml or with `pulumi config set --path 'rollout:release' ...` (see Pulumi.yaml for its shape).",
      ],
    },
    {
      name: "wrong type",
      raw: minimalRawConfig({ database: { database: "rollout_dev", port: "fifty" } }),
      expect: [
        "rollout:database.port is invalid (expected number, received string): got \"fifty\". Fix: set it with `pulumi config set --path 'rollout:database.port' <value>`.",
      ],
    },
    {
      name: "out of range and unknown key",
      raw: minimalRawConfig({ database: { database: "rollout_dev", port: 70000, passwrod: "x" } }),
      expect: [
        "rollout:database.port is invalid (Too big: expected number to be <=65535): got 70000. Fix: set it with `pulumi config set --path 'rollout:database.port' <value>`.",
        "rollout:database.passwrod is not a known setting. Fix: remove it (check the spelling against Pulumi.yaml).",
      ],
    },
    {
      name: "bad enum inside an array element",
      raw: minimalRawConfig({
        checks: [{ name: "health", url: "http://127.0.0.1:1/health", method: "FETCH" }],
      }),
      expect: [
        'rollout:checks[0].method is invalid (expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"DELETE"): got "FETCH". Fix: set it with `pulumi config set --path \'rollout:checks[0].method\' <value>`.',
      ],
    },
    {
      name: "missing secret",
      raw: minimalRawConfig(),
      secrets: { databasePassword: true },
      expect: [
        "rollout:appDatabasePassword is missing (every stack needs it). Fix: `pulumi config set --secret rollout:appDatabasePassword <value>`.",
      ],
    },
    {
      name: "a secret that config refers to but the stack lacks, and an undeclared named secret",
      raw: minimalRawConfig({
        app: {
          ...(minimalRawConfig().app as object),
          secretEnv: { MAINTENANCE_TOKEN: "maintenanceToken", API_KEY: "apiKey" },
        },
      }),
      expect: [
        "rollout:maintenanceToken is missing (rollout:app.secretEnv.MAINTENANCE_TOKEN refers to it). Fix: `pulumi config set --secret rollout:maintenanceToken <value>`.",
        "rollout:secrets.apiKey is missing (rollout:app.secretEnv.API_KEY refers to it). Fix: `pulumi config set --secret rollout:secrets.apiKey <value>`.",
      ],
    },
    {
      name: "a maintenance window in an unknown time zone",
      raw: minimalRawConfig({
        window: { days: ["tue"], start: "22:00", end: "02:00", timeZone: "Mars/Olympus" },
      }),
      expect: [
        'rollout:window.timeZone is invalid (timeZone "Mars/Olympus" is not an IANA time zone; use a name such as "America/New_York" or "Asia/Bangkok"): got "Mars/Olympus". Fix: set it with `pulumi config set --path \'rollout:window.timeZone\' <value>`.',
      ],
    },
    {
      name: "a wrong weekday",
      raw: minimalRawConfig({ window: { days: ["tuesday"], start: "22:00", end: "02:00", timeZone: "UTC" } }),
      expect: [
        'rollout:window.days[0] is invalid (expected one of "mon"|"tue"|"wed"|"thu"|"fri"|"sat"|"sun"): got "tuesday". Fix: set it with `pulumi config set --path \'rollout:window.days[0]\' <value>`.',
      ],
    },
    {
      name: "an unknown top-level key (a misspelt rollout:smokeTests)",
      raw: minimalRawConfig({ smokeTest: [{ name: "crud" }] }),
      expect: [
        'rollout:smokeTest is not a known setting. Fix: rename it (did you mean rollout:smokeTests?) or remove it (`pulumi config rm rollout:smokeTest`); the keys are listed in the README\'s "Stack config" table.',
      ],
    },
    {
      name: "an unknown key that looks like no known one",
      raw: minimalRawConfig({ colour: "blue" }),
      expect: [
        'rollout:colour is not a known setting. Fix: rename it or remove it (`pulumi config rm rollout:colour`); the keys are listed in the README\'s "Stack config" table.',
      ],
    },
    {
      name: "an image without tag or digest",
      raw: minimalRawConfig({ release: { id: "r1", image: "sample-app" } }),
      expect: [
        "rollout:release.image is invalid (has no tag or digest; name the version, e.g. sample-app:1.1.0, or pin a digest (sample-app@sha256:<64 hex>)): got \"sample-app\". Fix: set it with `pulumi config set --path 'rollout:release.image' <value>`.",
      ],
    },
    {
      name: "a registry image whose port looks like a tag",
      raw: minimalRawConfig({ release: { id: "r1", image: "registry.example.com:5000/app" } }),
      expect: [
        "rollout:release.image is invalid (has no tag or digest; name the version, e.g. registry.example.com:5000/app:1.1.0, or pin a digest (registry.example.com:5000/app@sha256:<64 hex>)): got \"registry.example.com:5000/app\". Fix: set it with `pulumi config set --path 'rollout:release.image' <value>`.",
      ],
    },
    {
      name: "an image on the moving tag latest",
      raw: minimalRawConfig({ release: { id: "r1", image: "sample-app:latest" } }),
      expect: [
        "rollout:release.image is invalid (uses the moving tag `latest`, which names no release; tag the image with its version, or pin a digest): got \"sample-app:latest\". Fix: set it with `pulumi config set --path 'rollout:release.image' <value>`.",
      ],
    },
    {
      name: "a digest that is not sha256 with 64 hex digits",
      raw: minimalRawConfig({ release: { id: "r1", image: "repo/app@sha256:abc" } }),
      expect: [
        "rollout:release.image is invalid (has a digest that is not sha256:<64 hex digits>; copy the digest from `docker inspect` or the registry): got \"repo/app@sha256:abc\". Fix: set it with `pulumi config set --path 'rollout:release.image' <value>`.",
      ],
    },
    {
      name: "an override without its release and expiry",
      raw: minimalRawConfig({ override: { reason: "security fix CVE-2026-1234" } }),
      expect: [
        "rollout:override.release is missing. Fix: set it with `pulumi config set --path 'rollout:override.release' <value>`.",
        "rollout:override.expires is missing. Fix: set it with `pulumi config set --path 'rollout:override.expires' <value>`.",
      ],
    },
    {
      name: "an override expiry without a zone",
      raw: minimalRawConfig({
        override: { reason: "security fix CVE-2026-1234", release: "r1", expires: "2026-11-24T06:00:00" },
      }),
      expect: [
        'rollout:override.expires is invalid (must be an ISO time with a zone, e.g. "2026-11-24T06:00:00Z" or "2026-11-24T01:00:00-05:00"): got "2026-11-24T06:00:00". Fix: set it with `pulumi config set --path \'rollout:override.expires\' <value>`.',
      ],
    },
    {
      name: "backup.keep of 1",
      raw: minimalRawConfig({ backup: { dir: ".local/backups", keep: 1 } }),
      expect: [
        "rollout:backup.keep is invalid (must be 0 (keep all) or at least 2, so the backup taken before the current release outlives the next one): got 1. Fix: set it with `pulumi config set --path 'rollout:backup.keep' <value>`.",
      ],
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} with a message naming the key, the value and the fix`, () => {
      assert.deepEqual(problemsOf(c.raw, c.secrets), c.expect);
    });
  }

  it("accepts images with a tag or a sha256 digest", () => {
    const digest = "a".repeat(64);
    for (const image of [
      "sample-app:1.1.0",
      "registry.example.com:5000/team/app:2.0",
      `repo/app@sha256:${digest}`,
      `repo/app:1.1.0@sha256:${digest}`,
    ]) {
      const config = loadConfig("dev", minimalRawConfig({ release: { id: "r1", image } }), allSecrets);
      assert.equal(config.release.image, image);
    }
  });

  it("accepts backup.keep of 0 (keep all) and 2, and an override with release and zoned expiry", () => {
    for (const keep of [0, 2]) {
      const config = loadConfig("dev", minimalRawConfig({ backup: { dir: "b", keep } }), allSecrets);
      assert.equal(config.backup?.keep, keep);
    }
    const override = {
      reason: "security fix CVE-2026-1234",
      release: "r1",
      expires: "2026-11-24T01:00:00-05:00",
    };
    assert.deepEqual(loadConfig("dev", minimalRawConfig({ override }), allSecrets).override, override);
  });

  it("puts the report files in reports/{stack} unless rollout:report.dir says otherwise, and refuses other report keys", () => {
    assert.deepEqual(loadConfig("dev", minimalRawConfig(), allSecrets).report, { dir: "reports/{stack}" });
    const own = loadConfig(
      "dev",
      { ...minimalRawConfig(), report: { dir: "/srv/reports/{stack}" } },
      allSecrets,
    );
    assert.equal(own.report.dir, "/srv/reports/{stack}");
    assert.deepEqual(problemsOf({ ...minimalRawConfig(), report: { folder: "x" } }), [
      "rollout:report.folder is not a known setting. Fix: remove it (check the spelling against Pulumi.yaml).",
    ]);
  });

  it("does not count the secret keys as unknown when they appear among the raw keys", () => {
    const config = loadConfig("dev", minimalRawConfig({ webhookUrl: "set" }), allSecrets);
    assert.equal(config.release.id, "2026.11.21-1");
  });

  it("reports every problem at once, with the stack in the heading", () => {
    try {
      loadConfig("prod", { release: { id: "" } }, {});
      assert.fail("expected rejection");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        /^stack config for `prod` is invalid \(6 problems\):\n {2}- rollout:release.id/,
      );
      assert.equal(err.problems.length, 6);
    }
  });
});

describe("imageTag", () => {
  const cases: [string, string | undefined][] = [
    ["sample-app:1.1.0", "1.1.0"],
    ["registry.example.com:5000/team/app:2.0", "2.0"],
    ["registry.example.com:5000/team/app", undefined],
    ["app@sha256:abcd", undefined],
    ["app", undefined],
  ];
  for (const [image, tag] of cases) {
    it(`${image} -> ${tag}`, () => assert.equal(imageTag(image), tag));
  }
});

describe("what the soak and --watch probe", () => {
  const present = { databasePassword: true, appDatabasePassword: true, apiToken: true };
  const checks = [
    { name: "health", url: "http://127.0.0.1:18181/health" },
    {
      name: "api",
      url: "http://127.0.0.1:18181/api",
      headers: { authorization: "Bearer {secret:apiToken}" },
    },
    { name: "gone", url: "http://127.0.0.1:18181/old", expectStatus: 404 },
    { name: "login", url: "http://127.0.0.1:18181/login", method: "POST", json: { user: "a" } },
  ];

  it("are the GET checks a bare request can judge: no headers, no body, a 2xx expected", () => {
    const config = loadConfig("dev", minimalRawConfig({ checks }), present);
    assert.deepEqual(probeUrls(config), ["http://127.0.0.1:18181/health"]);
  });

  it("a soak with none of them is refused, naming what it probes and the fix", () => {
    assert.deepEqual(
      configProblems(minimalRawConfig({ checks: checks.slice(1), soak: { durationSeconds: 5 } }), present),
      [
        "rollout:soak has no URL to probe: it probes the GET checks in rollout:checks that send no headers or body and expect a 2xx. Fix: add a health check such as {name: health, url: <service>/health}, or remove rollout:soak.",
      ],
    );
  });
});
