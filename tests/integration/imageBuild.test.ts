// Images come back exactly: against the real Docker engine, a tag is never moved to other content,
// and a rollback's recorded image id runs as it is, whatever the tag points at now.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, inspectImage, type ImageBuildSpec } from "../../engines/image/build";
import { hashSources } from "../../engines/image/sources";
import { docker } from "../support/stack";

const DOCKER_HOST = { url: "unix:///var/run/docker.sock" };

describe("image builds on the real engine", () => {
  const repo = `rollout-itest-build-${randomBytes(3).toString("hex")}`;
  let context: string;
  const spec = (tag: string): ImageBuildSpec => ({
    context,
    dockerfile: "Dockerfile",
    tag,
    buildArgs: { BASE_IMAGE: "rollout/node-base:local" },
    sourceHash: hashSources(context, ["."]),
    dockerHost: DOCKER_HOST,
  });

  before(() => {
    context = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-build-"));
    fs.writeFileSync(
      path.join(context, "Dockerfile"),
      "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY app.txt /app/app.txt\n",
    );
    fs.writeFileSync(path.join(context, "app.txt"), "release one\n");
  });
  after(() => {
    fs.rmSync(context, { recursive: true, force: true });
    const images = docker("images", "--format", "{{.ID}}", "--filter", `reference=${repo}`)
      .split("\n")
      .filter(Boolean);
    for (const id of new Set(images)) docker("rmi", "-f", id);
  });

  it("builds once, reuses the same build, and refuses to move the tag to other sources", async () => {
    const lines: string[] = [];
    const first = await buildImage(spec(`${repo}:1`), {}, (line) => lines.push(line));
    assert.equal(first.outcome, "built");
    // The build's own lines come out as it goes, for `pulumi up` to show.
    assert.equal(lines[0], `building ${repo}:1`);
    assert.ok(
      lines.some((l) => /^Step \d+\/\d+ : FROM /.test(l)),
      `docker build's steps are passed on: ${lines.join(" | ")}`,
    );
    assert.equal((await buildImage(spec(`${repo}:1`))).outcome, "reused");

    // Today's tree differs from the one the tag was built from.
    fs.writeFileSync(path.join(context, "app.txt"), "release two\n");
    await assert.rejects(
      () => buildImage(spec(`${repo}:1`)),
      new RegExp(
        `^Error: refusing to build ${repo}:1: the tag already holds image ${first.imageId}, and its rollout\\.build-hash label differs \\(sources [0-9a-f]{12} vs [0-9a-f]{12}\\); a tag names one content, so give this build a new tag`,
      ),
    );
    assert.equal(
      inspectImage(`${repo}:1`, DOCKER_HOST)?.id,
      first.imageId,
      "the tag still names the first build",
    );
  });

  it("names a differing build argument", async () => {
    const other = { ...spec(`${repo}:1`), buildArgs: { BASE_IMAGE: "rollout/node-base:other" } };
    await assert.rejects(
      () => buildImage(other),
      /build arg BASE_IMAGE: rollout\/node-base:local vs rollout\/node-base:other/,
    );
  });

  it("runs a recorded image id exactly, and refuses one the engine no longer has", async () => {
    const recorded = inspectImage(`${repo}:1`, DOCKER_HOST)!.id;
    const second = await buildImage(spec(`${repo}:2`));
    assert.notEqual(second.imageId, recorded);
    const back = await buildImage(spec(`${repo}:2`), { expectImageId: recorded });
    assert.deepEqual([back.imageId, back.outcome], [recorded, "recorded"]);
    const gone = `sha256:${"0".repeat(64)}`;
    await assert.rejects(
      () => buildImage(spec(`${repo}:2`), { expectImageId: gone }),
      new RegExp(`image ${gone}, recorded for ${repo}:2 when it ran, is no longer on the Docker host`),
    );
  });
});
