// Pulumi mocks that record every resource registration, for unit tests of the resource graph.
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

/** Installs mocks and returns the live list of registrations. */
export function recordRegistrations(): Registration[] {
  const registrations: Registration[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registrations.push({ type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "docker:index/image:Image") state.repoDigest = `sha256:${"a".repeat(64)}`;
        if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${"b".repeat(64)}`;
        if (args.type === "pulumi-nodejs:dynamic/rollout:HttpCheck") {
          const spec = args.inputs.spec as { name: string; url: string; expectStatus: number };
          state.result = {
            name: spec.name,
            url: spec.url,
            passed: true,
            status: spec.expectStatus,
            latencyMs: 3,
            attempts: 1,
            elapsedMs: 3,
            checkedAt: "2026-11-21T00:00:00.000Z",
          };
        }
        return { id: `${args.name}-id`, state };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    "rollout",
    "test",
    false,
  );
  return registrations;
}

/** Resolves an Output's value in mock mode. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

// The marker Pulumi's wire format puts on secret values (sdk/nodejs/runtime/rpc.ts).
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** Splits a registered input into its value and whether it was sent as a secret. */
export function secretInput(input: unknown): { secret: boolean; value: unknown } {
  if (
    input !== null &&
    typeof input === "object" &&
    (input as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE
  ) {
    return { secret: true, value: (input as { value: unknown }).value };
  }
  return { secret: false, value: input };
}
