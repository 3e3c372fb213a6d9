import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const greeting = config.require("greeting");
const token = config.requireSecret("token");
const outFile = config.require("outFile");

if (config.getBoolean("fail")) {
  throw new Error("selftest: the program was asked to fail");
}
if (config.getBoolean("hang")) {
  // Never finishes on its own: selftest.sh checks that Ctrl-C stops it.
  console.log("selftest: hanging until canceled");
  setInterval(() => undefined, 1000);
}

// A dynamic provider writing a file. The engine runs it through the
// pulumi-resource-pulumi-nodejs shim, so this checks that path too.
interface FileInputs {
  path: string;
  content: string;
}

const fileProvider: pulumi.dynamic.ResourceProvider<FileInputs, FileInputs> = {
  async create(inputs) {
    fs.writeFileSync(inputs.path, inputs.content);
    return { id: inputs.path, outs: inputs };
  },
  async diff(_id, olds, news) {
    const moved = olds.path !== news.path;
    return { changes: moved || olds.content !== news.content, replaces: moved ? ["path"] : [] };
  },
  async update(_id, _olds, news) {
    fs.writeFileSync(news.path, news.content);
    return { outs: news };
  },
  async delete(id) {
    fs.rmSync(id, { force: true });
  },
};

class File extends pulumi.dynamic.Resource {
  constructor(name: string, args: { path: pulumi.Input<string>; content: pulumi.Input<string> }) {
    super(fileProvider, name, args);
  }
}

const file = new File("greeting-file", { path: outFile, content: `${greeting}\n` });

export const message = `${greeting} from ${pulumi.getProject()}/${pulumi.getStack()}`;
export const filePath = file.id;
// A secret output computed from the secret config value.
export const tokenLength = token.apply((t) => t.length);
// PULUMI_CONFIG_SECRET_KEYS reached the program.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const tokenIsSecretKey: boolean = (pulumi.runtime as any).isConfigSecret(
  `${pulumi.getProject()}:token`,
);
// The nodeargs runtime option reached node.
export const nodeArgs = process.execArgv.join(" ");
