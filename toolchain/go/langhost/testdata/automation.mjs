// Automation API check for selftest.sh: a local program (this project) run by
// LocalWorkspace, which drives the `pulumi` on PATH and so our language host.
// usage: node automation.mjs PROJECT_DIR OUT_FILE (from the project, to find its node_modules)
import { LocalWorkspace } from "@pulumi/pulumi/automation/index.js";

async function main() {
  const [workDir, outFile] = process.argv.slice(2);
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: "automation", workDir });
  await stack.setAllConfig({
    greeting: { value: "hello from automation" },
    token: { value: "auto-s3cret", secret: true },
    outFile: { value: outFile },
  });
  const up = await stack.up({ onOutput: (s) => process.stdout.write(s) });
  console.log(`automation up: ${up.summary.result}; message=${JSON.stringify(up.outputs.message.value)}`);
  const destroy = await stack.destroy({ onOutput: (s) => process.stdout.write(s) });
  console.log(`automation destroy: ${destroy.summary.result}`);
  await stack.workspace.removeStack("automation");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
