// Progress lines from inside a step's run, sent to the engine's log as info messages attached to
// the step's component: `pulumi up` shows them as they happen and the Automation API streams them
// to `deploy`/`rollback` as diagnostic events. Runs inside the dynamic provider process, which
// Pulumi starts with the engine's address as its first argument; the step's component URN comes in
// the step's inputs (`progressUrn`, not a reason to run again).
import * as pulumi from "@pulumi/pulumi";
import type { Progress } from "../engines/progress";

/** A line sink that also waits for what it sent, so a step's lines arrive before its result. */
export interface EngineProgress {
  readonly line: Progress;
  flush(): Promise<void>;
}

const ADDRESS = /^[\w.-]+:\d+$/;

/** Lines to the engine's log under `urn`; silent outside a provider process or without a URN. */
export function engineProgress(urn: unknown, address: string | undefined = process.argv[2]): EngineProgress {
  if (typeof urn !== "string" || urn === "" || !address || !ADDRESS.test(address)) {
    return { line: () => undefined, flush: async () => undefined };
  }
  // Loaded here rather than imported: providers are serialized by value and these load in the
  // provider process, from the packages @pulumi/pulumi depends on.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const grpc = require("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
  const engineRpc =
    require("@pulumi/pulumi/proto/engine_grpc_pb") as typeof import("@pulumi/pulumi/proto/engine_grpc_pb");
  const engineProto =
    require("@pulumi/pulumi/proto/engine_pb") as typeof import("@pulumi/pulumi/proto/engine_pb");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const client = new engineRpc.EngineClient(address, grpc.credentials.createInsecure());
  // One call at a time, in order: the display shows lines in the order they were said.
  let sent: Promise<void> = Promise.resolve();
  return {
    line(text) {
      const request = new engineProto.LogRequest();
      request.setSeverity(engineProto.LogSeverity.INFO);
      request.setMessage(text);
      request.setUrn(urn);
      sent = sent.then(
        () => new Promise<void>((resolve) => client.log(request, () => resolve())), // a lost line never fails a step
      );
    },
    async flush() {
      await sent;
    },
  };
}

/**
 * The resource's URN as an input that carries no dependency on it. A plain `resource.urn` would
 * make the step wait for every child of its component, and a component's later children (the
 * containers after the image build) wait for the step: a cycle. URNs are known in previews too.
 */
export function urnOf(resource: pulumi.Resource | undefined): pulumi.Output<string> | undefined {
  return resource && pulumi.output(new Promise<string>((resolve) => resource.urn.apply(resolve)));
}

/** Runs `work` with lines to the engine's log under `urn`, and waits for them before it returns. */
export async function withEngineProgress<T>(
  urn: unknown,
  work: (progress: Progress) => Promise<T>,
): Promise<T> {
  const progress = engineProgress(urn);
  try {
    return await work(progress.line);
  } finally {
    await progress.flush();
  }
}
