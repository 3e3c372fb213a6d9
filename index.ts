// Composition root: read and validate config, build the rollout, export its report (as data, as
// Markdown for people, and where its files went). Pulumi runs the program (through main.js) from
// the project directory, the one holding Pulumi.yaml.
import * as pulumi from "@pulumi/pulumi";
import { programConfig, Rollout } from "./rollout";

const stack = pulumi.getStack();
const { config, secrets } = programConfig(stack);
const rollout = new Rollout("rollout", { config, stack, secrets, projectDir: process.cwd() });

export const report = rollout.report;
export const summary = rollout.summary;
export const reportFiles = rollout.reportFiles;
