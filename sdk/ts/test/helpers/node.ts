// Runs a real Switchboard node for integration tests: the binary the global
// setup built, on 127.0.0.1:0, with its URL read from the banner it prints.

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { inject } from "vitest";

export const API_KEY = "k";
export const TOKEN_SECRET = "sdk-test-secret";

export interface Node {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Publishes through the HTTP API, as an application backend would. */
  publish(channel: string, data: unknown, key?: string): Promise<{ epoch: string; offset: number }>;
  stop(): Promise<void>;
}

/** The built binary, or "" with the reason in skipReason. */
export const binary: string = inject("switchboardBinary");
export const skipReason: string = inject("switchboardSkip");

export async function startNode(args: string[] = []): Promise<Node> {
  const proc = spawn(binary, ["serve", "--addr", "127.0.0.1:0", "--api-key", API_KEY, "--token.hmac-secrets", TOKEN_SECRET, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    // The node reads SWITCHBOARD_* variables (and refuses unknown ones):
    // none from the environment the tests run in may change it.
    env: Object.fromEntries(Object.entries(process.env as Record<string, string>).filter(([k]) => !k.startsWith("SWITCHBOARD_"))),
  });
  let stderr = "";
  proc.stderr.on("data", (b: unknown) => (stderr += String(b)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`node printed no demo URL in 10s:\n${out}\n${stderr}`)), 10_000);
    proc.stdout.on("data", (b: unknown) => {
      out += String(b);
      const m = /demo:\s+(http:\/\/\S+?)\/?\s/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.on("exit", (code: number) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}:\n${out}\n${stderr}`));
    });
  });
  return {
    url,
    async publish(channel, data, key) {
      const res = await fetch(`${url}/api/publish`, {
        method: "POST",
        headers: { Authorization: `apikey ${API_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify(key ? { channel, data, key } : { channel, data }),
      });
      const body = (await res.json()) as { epoch: string; offset: number };
      if (!res.ok) throw new Error(`publish: ${res.status} ${JSON.stringify(body)}`);
      return body;
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
        proc.on("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        proc.kill("SIGTERM");
      });
    },
  };
}

/** A JWT (HS256) the node accepts, for user sub, valid for ttlMs, granting channels when given. */
export function mintToken(sub: string, ttlMs: number, channels?: string[]): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const claims = { sub, exp: Math.floor((Date.now() + ttlMs) / 1000), ...(channels ? { channels } : {}) };
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${body}.${createHmac("sha256", TOKEN_SECRET).update(body).digest("base64url")}`;
}
