import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig, startOrder } from "../../config";
import { restartProblem, stateProblem, type ServiceState } from "../../engines/checks/services";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const SECRETS = { databasePassword: true, appDatabasePassword: true, "redis-password": true };

/** The minimal config with services beside the app, the app depending on `appDependsOn`. */
function withServices(services: Record<string, unknown>[], appDependsOn: string[] = []) {
  const raw = minimalRawConfig();
  return { ...raw, app: { ...(raw.app as object), dependsOn: appDependsOn }, services };
}

describe("rollout:services", () => {
  it("starts each service after what it depends on, otherwise in config order with the app first", () => {
    const config = loadConfig(
      "dev",
      withServices(
        [
          { name: "nginx", image: "nginx:1.27.3", dependsOn: ["app", "frontend"] },
          { name: "frontend", image: "web:2.0.1", dependsOn: ["redis"] },
          { name: "postgres", image: "postgres:15.8", keep: true },
          { name: "redis", image: "redis:7.2.4", keep: true },
          { name: "promtail", image: "promtail:2.9.3" },
        ],
        ["postgres", "redis"],
      ),
      SECRETS,
    );
    assert.deepEqual(startOrder(config), ["postgres", "redis", "app", "frontend", "nginx", "promtail"]);
  });

  it("fills a health check's defaults and keeps a service only when asked", () => {
    const config = loadConfig(
      "dev",
      withServices([
        { name: "redis", image: "redis:7.2.4", keep: true, healthcheck: { command: "redis-cli ping" } },
        { name: "web", image: "web:2.0.1" },
      ]),
      SECRETS,
    );
    const [redis, web] = config.services;
    assert.deepEqual(redis.healthcheck, {
      command: "redis-cli ping",
      intervalSeconds: 2,
      timeoutSeconds: 5,
      retries: 3,
      startPeriodSeconds: 0,
      waitSeconds: 120,
    });
    assert.equal(redis.keep, true);
    assert.equal(web.keep, false);
    assert.deepEqual(web.dependsOn, []);
  });

  it("refuses a dependency on no service, naming the key, the name and the services there are", () => {
    const problems = configProblems(
      withServices([{ name: "web", image: "web:2.0.1", dependsOn: ["redis"] }]),
      SECRETS,
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /^rollout:services\[0\]\.dependsOn names redis, which is no service of this stack \(services: app, web\)\. Fix: add a service named redis/,
    );
  });

  it("refuses the app depending on a service that is not there", () => {
    const problems = configProblems(withServices([], ["postgres"]), SECRETS);
    assert.match(problems.join("\n"), /rollout:app\.dependsOn names postgres, which is no service/);
  });

  it("refuses a circle of dependencies, naming it", () => {
    const problems = configProblems(
      withServices(
        [
          { name: "a", image: "a:1.0.0", dependsOn: ["b"] },
          { name: "b", image: "b:1.0.0", dependsOn: ["app"] },
        ],
        ["a"],
      ),
      SECRETS,
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0], /depend on each other in a circle: app -> a -> b -> app/);
  });

  it("refuses a service depending on itself", () => {
    const problems = configProblems(
      withServices([{ name: "a", image: "a:1.0.0", dependsOn: ["a"] }]),
      SECRETS,
    );
    assert.match(problems.join("\n"), /rollout:services\[0\]\.dependsOn names a itself/);
  });

  it("refuses a service named app, two services of one name, and an image without a version", () => {
    const problems = configProblems(
      withServices([
        { name: "app", image: "x:1.0.0" },
        { name: "web", image: "web:2.0.1" },
        { name: "web", image: "web:latest" },
      ]),
      SECRETS,
    );
    const text = problems.join("\n");
    assert.match(text, /rollout:services\[0\]\.name .*release's own service/);
    assert.match(text, /rollout:services\[2\]\.name .*used by another service/);
    assert.match(text, /rollout:services\[2\]\.image .*moving tag `latest`/);
  });

  it("refuses secret env that names a secret the stack does not set", () => {
    const problems = configProblems(
      withServices([
        { name: "redis", image: "redis:7.2.4", secretEnv: { REDIS_PASSWORD: "cache-password" } },
      ]),
      SECRETS,
    );
    assert.match(
      problems.join("\n"),
      /cache-password.*rollout:services\[0\]\.secretEnv\.REDIS_PASSWORD refers to it/,
    );
  });
});

describe("the services check's verdict", () => {
  const state = (status: string, health: string | null): ServiceState => ({
    name: "redis",
    container: "c1",
    status,
    health,
    startedAt: "2026-12-01T20:00:00Z",
    restarts: 0,
    imageId: "sha256:" + "a".repeat(64),
    kept: true,
  });

  it("passes a running service, and a health-checked one only when healthy", () => {
    assert.equal(stateProblem(state("running", null), false), undefined);
    assert.equal(stateProblem(state("running", "healthy"), true), undefined);
    assert.deepEqual(stateProblem(state("running", "starting"), true), {
      problem: "service redis is starting, not healthy",
      final: false,
    });
  });

  it("fails at once for a container that exited, and waits for one that is restarting", () => {
    assert.deepEqual(stateProblem(state("exited", null), false), {
      problem: "service redis is exited, not running",
      final: true,
    });
    assert.equal(stateProblem(state("restarting", null), false)?.final, false);
  });

  it("fails a service that restarted between two looks, or stopped: a crash loop shows running between restarts", () => {
    const first = state("running", null);
    assert.equal(restartProblem(first, state("running", null)), undefined);
    assert.match(
      restartProblem(first, { ...state("running", null), restarts: 1, startedAt: "2026-12-01T20:00:02Z" }) ??
        "",
      /service redis restarted within 3 s \(1 restarts\): it crashes after it starts/,
    );
    assert.match(
      restartProblem(first, state("exited", null)) ?? "",
      /service redis is exited 3 s after it was running/,
    );
  });
});
