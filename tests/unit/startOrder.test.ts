import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startOrder, type ServiceArgs } from "../../components/ContainerRelease";

const svc = (name: string, ...after: string[]): ServiceArgs => ({ name, after });

describe("startOrder", () => {
  it("starts services after the ones they name (the Warungin order)", () => {
    const order = startOrder([
      svc("nginx", "backend", "frontend"),
      svc("promtail", "loki"),
      svc("loki"),
      svc("backend", "postgres", "redis"),
      svc("frontend", "backend"),
      svc("postgres"),
      svc("redis"),
    ]).map((s) => s.name);
    const before = (a: string, b: string) =>
      assert.ok(order.indexOf(a) < order.indexOf(b), `${a} before ${b}: ${order}`);
    before("postgres", "backend");
    before("redis", "backend");
    before("backend", "frontend");
    before("frontend", "nginx");
    before("loki", "promtail");
    assert.equal(order.length, 7);
  });

  it("refuses an unknown service name", () => {
    assert.throws(
      () => startOrder([svc("app", "db")]),
      /^Error: service `app` starts after `db`, which is not a service of this release; use one of: app$/,
    );
  });

  it("refuses a cycle, naming it", () => {
    assert.throws(
      () => startOrder([svc("a", "b"), svc("b", "a")]),
      /services start in a cycle \(a -> b -> a\); remove one of these `after` entries/,
    );
  });

  it("refuses duplicate names", () => {
    assert.throws(() => startOrder([svc("a"), svc("a")]), /service `a` is listed twice/);
  });
});
