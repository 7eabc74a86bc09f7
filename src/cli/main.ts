#!/usr/bin/env node
/**
 * The `mobilenet` command. Each subcommand lives in its own file and registers itself on the
 * program; this file only wires them up and turns errors into one line and an exit code.
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ErrorCodes, MobilenetError } from '../errors.js';
import { registerSummary } from './summary.js';
import { registerTables } from './tables.js';
import { registerClassify } from './classify.js';
import { registerConvert } from './convert.js';
import { registerGolden } from './golden.js';
import { registerExport } from './export.js';
import { registerBench } from './bench.js';
import { registerTrain } from './train.js';
import { registerQuantize } from './quantize.js';
import { EXIT_INTERNAL, EXIT_USAGE, OutputClosed, plainErrno, printable, type CommandStatus, type Io } from './io.js';
import { processIo } from './output.js';

export { EXIT_INTERNAL, EXIT_USAGE, OutputClosed, type CommandStatus, type Io };

/** The process's streams, made on first use (importing this module touches neither). */
let defaultIo: Io | null = null;

export function createProgram(io: Io, status: CommandStatus = { exitCode: 0 }): Command {
  const program = new Command('mobilenet')
    .description('MobileNet v1 inference engine')
    .version(packageVersion(), '-V, --version', 'the version of mobilenet-wasm')
    // Set before registering: subcommands copy these settings when they are created.
    .exitOverride()
    // Commander's own errors are printed by reportError, in the same one-line format as ours.
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });

  // One line per subcommand; classify and bench register here the same way.
  registerSummary(program, io);
  registerTables(program, io);
  registerClassify(program, io, status);
  registerConvert(program, io);
  registerGolden(program, io, status);
  registerExport(program, io);
  registerBench(program, io);
  registerTrain(program, io, status);
  registerQuantize(program, io, status);
  return program;
}

/**
 * Prints one line `mobilenet: CODE: message` for an error and returns the exit code.
 * Never a stack trace: a MobilenetError or a usage error is the user's to fix (exit 2);
 * a reader that closed our output ends the run quietly (exit 0); anything else is reported as
 * internal (exit 1). Control characters in messages (from file names) are escaped.
 */
export function reportError(err: unknown, io: Io): number {
  if (err instanceof OutputClosed) return 0;
  if (err instanceof CommanderError) {
    // Help and --version end through exitOverride too; they have already printed.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') {
      return err.exitCode;
    }
    io.stderr(`mobilenet: ${ErrorCodes.OPTION}: ${printable(oneLine(err.message.replace(/^error: /, '')))}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof MobilenetError) {
    io.stderr(`mobilenet: ${err.code}: ${printable(plainErrno(oneLine(err.message)))}\n`);
    return EXIT_USAGE;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(`mobilenet: internal error: ${printable(oneLine(message))}\n`);
  return EXIT_INTERNAL;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** The installed package's version (package.json two folders above dist/cli/). */
function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Runs the command on the user's arguments (no node and script path); resolves to the exit code.
 * Output faults end here too: a closed pipe is exit 0, a write error (a full disk) one ERR_IO line and exit 2.
 */
export async function run(args: readonly string[], io: Io = (defaultIo ??= processIo())): Promise<number> {
  const status: CommandStatus = { exitCode: 0 };
  try {
    if (args.length === 0) {
      // No command: the help, on stdout, and success (as `git` and `npm` do).
      createProgram(io, status).outputHelp();
    } else {
      await createProgram(io, status).parseAsync([...args], { from: 'user' });
    }
    // A write error can arrive after the last write (a pipe that closed before reading it all).
    await io.flush?.();
    return status.exitCode;
  } catch (err) {
    return reportError(err, io);
  }
}

/** True when this file is the process's entry point (also through npm's bin symlink). */
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  // exitCode, not exit(): lets stdout drain when it is a pipe.
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
