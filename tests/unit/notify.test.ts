// A webhook that cannot be reached is reported, never thrown, and the report must not carry the
// URL: it is a secret whose path or query is often the credential itself. Real requests to
// 127.0.0.1 only.
import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";
import { after, before, describe, it } from "node:test";
import { sendNotification, type DeliveryResult } from "../../engines/notify";
import { freePort } from "../support/stack";

const NOTICE = {
  event: "failure",
  stack: "prod",
  release: "2026.11.21-1",
  summary: "deploy failed",
} as const;
const PATH_TOKEN = "T0KEN-in-the-path-5f2c9a";
const QUERY_TOKEN = "query-secret-81d3e7";
const USER = "hookuser";
const PASSWORD = "hookpass-77aa";

/** Every part of the URL that must stay out of a report: userinfo, host, port, path, query. */
function partsOf(url: string): string[] {
  const parsed = new URL(url);
  return [
    parsed.username,
    parsed.password,
    parsed.hostname,
    parsed.port,
    ...parsed.pathname.split("/"),
    ...[...parsed.searchParams].flat(),
  ].filter((part) => part.length >= 3);
}

function assertNoUrl(result: DeliveryResult, url: string, parts: string[] = partsOf(url)): void {
  assert.ok(!result.detail.includes(url), `detail holds the URL: ${result.detail}`);
  for (const part of parts) {
    assert.ok(!result.detail.includes(part), `detail holds ${JSON.stringify(part)}: ${result.detail}`);
  }
  const recorded = JSON.stringify(result);
  for (const secret of [PATH_TOKEN, QUERY_TOKEN, USER, PASSWORD]) {
    assert.ok(!recorded.includes(secret), `the result holds ${secret}: ${recorded}`);
  }
}

describe("sendNotification reports a failure without the URL", () => {
  let server: http.Server;
  let port: number;
  const sockets = new Set<net.Socket>();

  before(async () => {
    // /fail answers 500; /hang never answers.
    server = http.createServer((req, res) => {
      if (req.url?.startsWith("/fail")) res.writeHead(500).end("no");
    });
    server.on("connection", (s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("names the refused connection on a closed port, with a token in path and query", async () => {
    const closed = await freePort();
    const url = `http://127.0.0.1:${closed}/hooks/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
    const result = await sendNotification(url, NOTICE, 2000);
    assert.equal(result.delivered, false);
    assert.equal(result.detail, "ECONNREFUSED");
    assertNoUrl(result, url);
  });

  for (const [what, url] of [
    ["a host that is not a valid address", `http://999.1.1.1/hooks/${PATH_TOKEN}?token=${QUERY_TOKEN}`],
    ["a host with a space", `https://hooks.exa mple.com/services/${PATH_TOKEN}?token=${QUERY_TOKEN}`],
    [
      "a port out of range",
      `http://${USER}:${PASSWORD}@hooks.example.com:99999/${PATH_TOKEN}?token=${QUERY_TOKEN}`,
    ],
  ] as const) {
    it(`says the URL is invalid for ${what}, without quoting it`, async () => {
      const result = await sendNotification(url, NOTICE, 2000);
      assert.equal(result.delivered, false);
      assert.equal(result.detail, "invalid webhook URL");
      // The URL does not parse, so its parts are named by hand.
      assertNoUrl(result, url, [
        "999.1.1.1",
        "hooks.exa",
        "mple.com",
        "hooks.example.com",
        "99999",
        "hooks",
        "services",
      ]);
    });
  }

  it("refuses a URL with a user name and password, without quoting them", async () => {
    const url = `http://${USER}:${PASSWORD}@127.0.0.1:${port}/fail/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
    const result = await sendNotification(url, NOTICE, 2000);
    assert.equal(result.delivered, false);
    assert.equal(result.detail, "invalid webhook URL: it holds a user name or password, which fetch refuses");
    assertNoUrl(result, url);
  });

  it("reports a timeout as such", async () => {
    const url = `http://127.0.0.1:${port}/hang/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
    const result = await sendNotification(url, NOTICE, 200);
    assert.equal(result.delivered, false);
    assert.equal(result.detail, "timed out");
    assertNoUrl(result, url);
  });

  it("reports the status of a webhook that answers with an error", async () => {
    const url = `http://127.0.0.1:${port}/fail/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
    const result = await sendNotification(url, NOTICE, 2000);
    assert.equal(result.delivered, false);
    assert.equal(result.detail, "HTTP 500");
    assertNoUrl(result, url);
  });
});
