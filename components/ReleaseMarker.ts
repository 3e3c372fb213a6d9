import * as pulumi from "@pulumi/pulumi";
import { DYNAMIC_MODULE, STEPS, type ReleaseFacts } from "./tokens";

interface MarkerOutputs extends ReleaseFacts {
  /** The release this one replaced, from the marker's previous state; null on a first install. */
  readonly previous: ReleaseFacts | null;
  /** Every release this stack ran to the end, newest first: a rollback runs its image id again. */
  readonly ledger: ReleaseFacts[];
}

/** Releases remembered in the ledger; older ones fall off. */
const LEDGER_SIZE = 100;

const facts = (o: ReleaseFacts): ReleaseFacts => ({
  release: o.release,
  digest: o.digest ?? "",
  image: o.image,
  imageId: o.imageId,
  schemaVersion: o.schemaVersion,
  // Absent, not empty, for the app alone: a ledger from before services compares equal.
  ...(o.services && Object.keys(o.services).length > 0 ? { services: o.services } : {}),
});

const provider: pulumi.dynamic.ResourceProvider<ReleaseFacts, MarkerOutputs> = {
  async diff(_id, olds, news) {
    return { changes: JSON.stringify(facts(olds)) !== JSON.stringify(facts(news)) };
  },
  async create(inputs) {
    return { id: inputs.release, outs: { ...facts(inputs), previous: null, ledger: [facts(inputs)] } };
  },
  async update(_id, olds, news) {
    const earlier = ((olds as Partial<MarkerOutputs>).ledger ?? [facts(olds)]).slice(0, LEDGER_SIZE - 1);
    return { outs: { ...facts(news), previous: facts(olds), ledger: [facts(news), ...earlier] } };
  },
  async read(id, props) {
    return { id, props };
  },
  async delete() {},
};

class Marker extends pulumi.dynamic.Resource {
  declare readonly previous: pulumi.Output<ReleaseFacts | null>;
  constructor(name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...props, previous: undefined, ledger: undefined },
      opts,
      DYNAMIC_MODULE,
      STEPS.marker.dynamicType,
    );
  }
}

/**
 * The last step of a successful rollout: records what is now released, and remembers what it
 * replaced, so the report can show the image before and after.
 */
export class ReleaseMarker extends pulumi.ComponentResource {
  readonly previous: pulumi.Output<ReleaseFacts | null>;

  constructor(
    name: string,
    args: pulumi.Inputs & { [K in keyof ReleaseFacts]-?: pulumi.Input<ReleaseFacts[K]> },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(STEPS.marker.token, name, {}, opts);
    const marker = new Marker(`${name}-${STEPS.marker.suffix}`, { ...args }, { parent: this });
    this.previous = marker.previous;
    this.registerOutputs({ previous: this.previous });
  }
}
