/** `mobilenet tables`: the paper's Tables 2-7, recomputed beside the printed values. */
import type { Command } from 'commander';
import { formatTables, tablesData } from '../model/tables.js';
import type { Io } from './io.js';

export function registerTables(program: Command, io: Io): void {
  program
    .command('tables')
    .description("the MobileNets paper's resource tables (2-7), ours beside the printed numbers")
    .option('--json', 'print JSON instead of Markdown')
    .action((flags: { json?: boolean }) => {
      const tables = tablesData();
      io.stdout(flags.json ? JSON.stringify(tables, null, 2) + '\n' : formatTables(tables));
    });
}
