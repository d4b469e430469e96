// The node embeds the bundle it serves at /sdk/switchboard.js
// (web/static/sdk/switchboard.js), the only built file committed. It must be
// byte for byte what the sources build to now: a change to src/ without
// `npm run build` fails here.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const served = join(root, "../../web/static/sdk/switchboard.js");

describe("build", () => {
  let out = "";
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), "switchboard-build-"));
    execFileSync(process.execPath, ["scripts/build.mjs", "--outdir", out, "--no-copy"], { cwd: root, stdio: ["ignore", "inherit", "inherit"], timeout: 60_000 });
  }, 90_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("the node serves what the sources build to, byte for byte", () => {
    const stale = "web/static/sdk/switchboard.js is stale: run `npm run build` in sdk/ts and commit it";
    const committed = readFileSync(served);
    const fresh = readFileSync(join(out, "switchboard.js"));
    // The text first, for a readable diff; then the bytes.
    expect(committed.toString("utf8"), stale).toBe(fresh.toString("utf8"));
    expect(committed.equals(fresh), stale).toBe(true);
  });

  it("the bundle imports nothing: the SDK has no runtime dependencies", () => {
    const js = readFileSync(join(out, "switchboard.js"), "utf8");
    expect(js).not.toMatch(/^\s*import\s/m);
    expect(js).not.toMatch(/\brequire\(/);
    expect(js).toMatch(/^export \{/m);
  });

  it("types the public API for an application, and nothing internal", () => {
    // An application written against the built declarations alone.
    const app = `
import { Switchboard, SwitchboardError, ErrorCode, type Publication, type SwitchboardOptions } from "./index.js";
const opts: SwitchboardOptions = { transports: ["sse", "longpoll"], endpoints: { presence: "/p" }, getToken: async () => "t" };
const sb = new Switchboard("https://rt.example.com", opts);
const sub = sb.subscribe<{ text: string }>("chat:lobby", { since: { epoch: "e", offset: 1 } });
sub.on("message", (m: Publication<{ text: string }>) => m.data.text.toUpperCase());
sub.on("join", (e) => e.client);
sub.on("gap", (g) => g.recovered);
sb.on("disconnected", (e) => e.reconnect);
void sb.presence("chat:lobby").then((cs) => cs.map((c) => c.user));
void sb.publish("chat:lobby", { text: "x" }, { key: "k" }).then((r) => r.offset);
void sb.history<{ text: string }>("chat:lobby", { limit: 1 }).then((h) => h.publications[0]?.data.text);
export const err = new SwitchboardError(ErrorCode.TokenExpired, "expired");
// @ts-expect-error internal to the SDK
sub.deliver;
`;
    writeFileSync(join(out, "app.ts"), app);
    const tsc = join(root, "node_modules", ".bin", "tsc");
    const args = ["--strict", "--noEmit", "--target", "ES2020", "--module", "ESNext", "--moduleResolution", "Bundler", "--lib", "ES2022,DOM", "app.ts"];
    execFileSync(tsc, args, { cwd: out, stdio: ["ignore", "inherit", "inherit"], timeout: 60_000 });
    rmSync(join(out, "app.ts"));
  });

  it("loads as an ES module and exports the client", async () => {
    const mod = (await import(join(out, "switchboard.js"))) as Record<string, unknown>;
    for (const name of ["Switchboard", "Subscription", "SwitchboardError", "ErrorCode", "DisconnectCode", "Cursor", "Backoff", "DEFAULT_TRANSPORTS"]) {
      expect(mod[name], name).toBeDefined();
    }
  });
});
