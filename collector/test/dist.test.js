// dist/ is committed (the demo page serves it where npm is missing): it must be the
// build of src/ and export the same API.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import { ROOT, BUILDS, buildAll } from "../scripts/build.js";
import * as src from "../src/collector.js";
import { makePage, tap, fire } from "../testing/fakedom.js";

const DIST = join(ROOT, "dist");
const API = ["attach", "detach", "session", "reset", "createCollector"];

let esbuildMissing = false;
try {
  await import("esbuild");
} catch {
  esbuildMissing = "esbuild is not installed (run npm install in collector/)";
}

test("dist/ is up to date with src/ (rebuilt in memory with the pinned esbuild)", { skip: esbuildMissing }, async () => {
  const built = await buildAll({ write: false });
  for (const name of Object.keys(BUILDS)) {
    const committed = readFileSync(join(DIST, name));
    assert.ok(Buffer.from(built[name]).equals(committed), `dist/${name} is stale: run npm run build`);
  }
});

function useCollector(api) {
  const page = makePage();
  const c = api.createCollector({ now: page.now, window: page.window });
  c.attach(page.form);
  tap(page, page.fields.user, "KeyA");
  tap(page, page.fields.password, "KeyA");
  fire(page, page.fields.user, "pointermove", { pointerType: "mouse", clientX: 1, clientY: 2 });
  const s = c.session();
  delete s.session_id;
  return s;
}

test("dist/collector.mjs exports the same API and behaves like src", async () => {
  const mod = await import(pathToFileURL(join(DIST, "collector.mjs")).href);
  assert.deepEqual(Object.keys(mod).sort(), Object.keys(src).sort());
  for (const name of API) assert.equal(typeof mod[name], "function", name);
  assert.deepEqual(useCollector(mod), useCollector(src));
});

test("dist/collector.min.js defines window.BiometricsCollector as a classic script", () => {
  const code = readFileSync(join(DIST, "collector.min.js"), "utf8");
  assert.ok(!/\bexport\b|\bimport\s*\(/.test(code.replace(/"[^"]*"/g, "")), "not an ES module");
  const window = { crypto: globalThis.crypto, performance: globalThis.performance, Math, Date, Uint8Array, Set, Map, WeakSet };
  window.window = window;
  vm.createContext(window);
  vm.runInContext(code, window);
  const BC = window.BiometricsCollector;
  assert.ok(BC, "window.BiometricsCollector");
  for (const name of API) assert.equal(typeof BC[name], "function", name);
  assert.deepEqual(JSON.parse(JSON.stringify(useCollector(BC))), useCollector(src));
  const s = BC.session();
  assert.equal(s.schema_version, 2);
  assert.match(s.session_id, /^[0-9a-f-]{36}$/);
});
