// Prints the size of dist/collector.min.js, minified and minified + gzipped (node's zlib,
// level 9), as JSON: `npm run size`.

import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const file = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "collector.min.js");
const code = readFileSync(file);
console.log(JSON.stringify({ min_bytes: code.length, min_gzip_bytes: gzipSync(code, { level: 9 }).length }));
