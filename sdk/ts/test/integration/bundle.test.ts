// The bundle a node serves at /sdk/switchboard.js, downloaded and imported
// by a Node program as the SDK README's "Node, without npm" section shows:
// saved as switchboard.mjs, so Node reads it as the ES module it is
// whatever package.json around it says (here one that makes .js files
// CommonJS, where a switchboard.js would not import).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channel, waitFor } from "../helpers/client.js";
import { type Node, binary, skipReason, startNode } from "../helpers/node.js";

describe.skipIf(!binary)(`the served bundle in Node${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;
  let dir: string;

  beforeAll(async () => {
    node = await startNode();
    dir = mkdtempSync(join(tmpdir(), "switchboard-bundle-"));
  });
  afterAll(async () => {
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("imports as an ES module, connects, and shows its own publish", async () => {
    const res = await fetch(`${node.url}/sdk/switchboard.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/javascript/);
    writeFileSync(join(dir, "switchboard.mjs"), await res.text());
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "commonjs" }));
    const ch = channel("chat", "node-bundle");
    // The README's program, with the node's URL and a channel of its own.
    writeFileSync(
      join(dir, "app.mjs"),
      `import { Switchboard } from "./switchboard.mjs";

const sb = new Switchboard(${JSON.stringify(node.url)});
sb.on("connected", (e) => console.log("connected over", e.transport));
sb.on("disconnected", (e) => console.log("disconnected:", e.code, e.reason));
const sub = sb.subscribe(${JSON.stringify(ch)});
sub.on("message", (m) => console.log(m.offset, JSON.stringify(m.data)));
sub.on("error", (err) => console.error("refused:", err.code, err.message));
sb.connect();
await sb.publish(${JSON.stringify(ch)}, { name: "node", text: "hello" });
`,
    );
    const proc = spawn(process.execPath, ["app.mjs"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (b: unknown) => (out += String(b)));
    proc.stderr.on("data", (b: unknown) => (out += String(b)));
    try {
      await waitFor(() => out.includes(`1 {"name":"node","text":"hello"}`), () => `hello from the program; it printed:\n${out}`);
      expect(out).toMatch(/connected over (websocket|sse|longpoll)/);
      expect(out).not.toMatch(/refused|Error/);
    } finally {
      proc.kill();
    }
  });
});
