// Builds the SDK: dist/switchboard.js (one ESM file, no runtime
// dependencies) with dist/*.d.ts, for the npm package, and the copy the node
// serves at /sdk/switchboard.js (web/static/sdk/switchboard.js, embedded by
// package web). Only the served copy is committed, so that a node builds
// with Go alone; dist/ is built when the package is packed.
// test/unit/build.test.ts rebuilds into a temporary directory and fails when
// the served copy is not byte for byte what the sources build to.
//
//   node scripts/build.mjs                      dist/ and the served copy
//   node scripts/build.mjs --outdir DIR --no-copy   DIR only

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const outdir = resolve(root, flag("--outdir") ?? "dist");
const served = resolve(root, "../../web/static/sdk/switchboard.js");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

// Declarations from the compiler; the bundle from esbuild.
const tsc = join(root, "node_modules", ".bin", "tsc");
execFileSync(tsc, ["-p", "tsconfig.json", "--emitDeclarationOnly", "--outDir", outdir], { cwd: root, stdio: "inherit" });

await build({
  entryPoints: [join(root, "src", "index.ts")],
  outfile: join(outdir, "switchboard.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2020",
  charset: "utf8",
  legalComments: "none",
  banner: { js: `// Switchboard client SDK ${version} (MIT). Built from sdk/ts; do not edit.` },
  logLevel: "warning",
});

if (!args.includes("--no-copy")) {
  mkdirSync(dirname(served), { recursive: true });
  copyFileSync(join(outdir, "switchboard.js"), served);
}
