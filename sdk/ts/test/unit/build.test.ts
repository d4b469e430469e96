// The committed bundle (dist/) and the copy the node serves
// (web/static/sdk/switchboard.js) must be what the sources build to now: a
// change to src/ without `npm run build` fails here.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const served = join(root, "../../web/static/sdk/switchboard.js");

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe("build", () => {
  let out = "";
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), "switchboard-build-"));
    execFileSync(process.execPath, ["scripts/build.mjs", "--outdir", out, "--no-copy"], { cwd: root, stdio: ["ignore", "inherit", "inherit"], timeout: 60_000 });
  }, 90_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const stale = "is stale: run `npm run build` in sdk/ts and commit dist/ and web/static/sdk/switchboard.js";

  it("dist/ holds what the sources build to", () => {
    expect(files(join(root, "dist")), `dist/ ${stale}`).toEqual(files(out));
    for (const f of files(out)) {
      expect(readFileSync(join(root, "dist", f), "utf8"), `dist/${f} ${stale}`).toBe(readFileSync(join(out, f), "utf8"));
    }
  });

  it("the node serves the same bundle", () => {
    expect(readFileSync(served, "utf8"), `web/static/sdk/switchboard.js ${stale}`).toBe(readFileSync(join(out, "switchboard.js"), "utf8"));
  });

  it("the bundle imports nothing: the SDK has no runtime dependencies", () => {
    const js = readFileSync(join(out, "switchboard.js"), "utf8");
    expect(js).not.toMatch(/^\s*import\s/m);
    expect(js).not.toMatch(/\brequire\(/);
    expect(js).toMatch(/^export \{/m);
  });

  it("loads as an ES module and exports the client", async () => {
    const mod = (await import(join(out, "switchboard.js"))) as Record<string, unknown>;
    for (const name of ["Switchboard", "Subscription", "SwitchboardError", "ErrorCode", "DisconnectCode", "Cursor", "Backoff", "DEFAULT_TRANSPORTS"]) {
      expect(mod[name], name).toBeDefined();
    }
  });
});
