/** Types for server.mjs (the tests import it). */
export declare const repoRoot: string;
export declare function startServer(options?: { port?: number; host?: string; root?: string }): Promise<{ url: string; close(): Promise<void> }>;
