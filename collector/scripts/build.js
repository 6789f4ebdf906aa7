// Builds dist/collector.min.js (IIFE, window.BiometricsCollector) and dist/collector.mjs
// (minified ES module) from src/ with the pinned esbuild. `npm run build`.
// test/dist.test.js rebuilds in memory with the same options and compares bytes.

import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const common = {
  entryPoints: [join(ROOT, "src", "collector.js")],
  bundle: true,
  minify: true,
  target: "es2020",
  legalComments: "none",
  charset: "ascii",
  logLevel: "warning",
};

/** esbuild options of each dist file, by file name. */
export const BUILDS = {
  "collector.min.js": { ...common, format: "iife", globalName: "BiometricsCollector" },
  "collector.mjs": { ...common, format: "esm" },
};

/** Builds every dist file into `outdir` (write: true) or in memory (write: false): {name: Uint8Array}. */
export async function buildAll({ outdir = join(ROOT, "dist"), write = true } = {}) {
  const esbuild = await import("esbuild");
  const out = {};
  for (const [name, opts] of Object.entries(BUILDS)) {
    const r = await esbuild.build({ ...opts, outfile: join(outdir, name), write });
    if (!write) out[name] = r.outputFiles[0].contents;
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildAll();
  console.log("built dist/collector.min.js and dist/collector.mjs");
}
