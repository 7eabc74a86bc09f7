/**
 * Stand-ins for the Node built-ins some format modules import at top level
 * (dist/formats/tfjs-graph.js, tfjs-layers.js and labels.js: node:fs/promises, node:path,
 * node:url). index.html maps those specifiers here with an import map so the modules load in
 * a browser; the page only calls their byte-level parsers (parseTfjsGraphModel,
 * parseTfjsLayersModel, parseLabels), never the file-system loaders, which would throw here.
 */
const unavailable = (name) => () => {
  throw new Error(`${name} is not available in a browser: pass the file's bytes instead`);
};
export const readFile = unavailable('readFile');
export const stat = unavailable('stat');
export const dirname = (p) => p.replace(/\/[^/]*$/, '') || '.';
export const join = (...parts) => parts.join('/');
export const fileURLToPath = unavailable('fileURLToPath');
export default { readFile, stat, dirname, join, fileURLToPath };
