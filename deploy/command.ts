// What the operator commands share (deploy/cli.ts, deploy/migrations.ts): timestamped output, option
// parsing that answers --help and refuses an unknown flag with the command's help, and the way an
// error ends a command: its message without a trace, and the exit code that says what happened.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { firstLine } from "./run";
import { Refusal } from "./stackConfig";

/** 0 done; 1 failed; 2 refused, nothing changed; 3 rolled back (the release asked for is not live). */
export const EXIT = { done: 0, failed: 1, refused: 2, rolledBack: 3 } as const;

/** Everything printed goes through here, with the time, so a log of a night's work reads in order. */
export function say(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/**
 * The command's options, or undefined when it was asked for its help (printed here). A flag it does
 * not know, or a value of the wrong kind, is a refusal that shows the help.
 */
type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
const HELP_OPTION = { help: { type: "boolean", short: "h", default: false } } as const;
type Parsed<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O & typeof HELP_OPTION; strict: true; allowPositionals: false }>
>["values"];

export function commandOptions<O extends OptionsConfig>(
  args: string[],
  options: O,
  help: string,
  exitHelp: string,
): Parsed<O> | undefined {
  let values: Parsed<O>;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...options, ...HELP_OPTION },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new Refusal(`${(err as Error).message}\n\n${help}`);
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${help}\n\n${exitHelp}\n`);
    return undefined;
  }
  return values;
}

/**
 * Runs a command and exits with its code. An error `refused` says nothing changed (exit 2); one
 * `expected` is a failure in words (exit 1); anything else is shown by its first line (the trace
 * with ROLLOUT_DEBUG=1), exit 1.
 */
export function runCommand(
  main: (argv: string[]) => Promise<number>,
  kind: (err: Error) => "refused" | "expected" | "unexpected",
): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      const k = err instanceof Refusal ? "refused" : kind(err);
      const text =
        k !== "unexpected"
          ? err.message
          : process.env.ROLLOUT_DEBUG
            ? (err.stack ?? err.message)
            : firstLine(err);
      process.stderr.write(`error: ${text}\n`);
      process.exit(k === "refused" ? EXIT.refused : EXIT.failed);
    },
  );
}
