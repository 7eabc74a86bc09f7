/** What every subcommand shares: where it writes, and the exit codes. */
/** Where a command writes; tests pass collectors, the bin passes the process streams. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stderr is a terminal: progress bars show only then. */
  stderrIsTTY?: boolean;
}

/** Refused input (bad options, bad files): the user can fix it. */
export const EXIT_USAGE = 2;
/** Anything else is a bug in the engine. */
export const EXIT_INTERNAL = 1;

/** What a command reports back besides errors: the exit code of a run that finished with failures. */
export interface CommandStatus {
  exitCode: number;
}
