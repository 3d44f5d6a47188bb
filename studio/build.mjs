// Builds the studio into src/loom/server/studio/ (committed, so that pip users need no Node.js).
// `node build.mjs` writes the files; `node build.mjs --check` only says whether they are current.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "loom", "server", "studio");
const check = process.argv.includes("--check");

const bundle = async (entry) => {
  const result = await build({
    entryPoints: [join(here, "src", entry)], bundle: true, minify: true, write: false,
    format: "iife", target: "es2020", legalComments: "none", charset: "utf8", logLevel: "error",
  });
  return result.outputFiles[0].text;
};

const files = {
  "studio.js": await bundle("main.ts"),
  "studio.css": await bundle("studio.css"),
  "index.html": readFileSync(join(here, "src", "index.html"), "utf8"),
};
let stale = [];
for (const [name, text] of Object.entries(files)) {
  const path = join(out, name);
  let old = null;
  try { old = readFileSync(path, "utf8"); } catch { /* not built yet */ }
  if (old !== text) stale.push(name);
  if (!check) { mkdirSync(out, { recursive: true }); writeFileSync(path, text); }
}
if (check && stale.length) {
  console.error(`stale: ${stale.join(", ")} (run: cd studio && npm run build)`);
  process.exit(1);
}
console.log(check ? "the built studio is current" : `built ${Object.keys(files).join(", ")} into ${out}`);
