// The node's error and disconnect tables, as package protocol generates them
// into protocol/testdata/errors.json, are the codes the SDK names: a code
// added, renumbered or renamed on the node fails here until the SDK follows.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DisconnectCode, ErrorCode, isTemporary } from "../../src/errors.js";
import { reconnects } from "../../src/protocol.js";

interface Table {
  errors: { code: number; name: string; status: number }[];
  disconnects: { code: number; reason: string; reconnect: boolean }[];
}

const table = JSON.parse(readFileSync(new URL("../../../../protocol/testdata/errors.json", import.meta.url), "utf8")) as Table;

// "token expired" → "TokenExpired", the SDK's spelling of the node's names.
const pascal = (s: string): string =>
  s
    .split(" ")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

const byCode = (a: number, b: number): number => a - b;

describe("error codes", () => {
  it("are all there", () => {
    expect(table.errors.length).toBeGreaterThanOrEqual(19);
    expect(table.disconnects.length).toBeGreaterThanOrEqual(13);
  });

  it("the SDK names every code of the node, and no other", () => {
    const sdk = Object.values(ErrorCode).filter((c) => c !== ErrorCode.NoAnswer);
    expect(sdk.sort(byCode)).toEqual(table.errors.map((e) => e.code));
  });

  it("keeps 0 for no answer, a code the node never sends", () => {
    expect(ErrorCode.NoAnswer).toBe(0);
    expect(table.errors.map((e) => e.code)).not.toContain(0);
  });

  it("names each code after the node's name for it", () => {
    for (const [key, code] of Object.entries(ErrorCode)) {
      if (code === ErrorCode.NoAnswer) continue;
      const row = table.errors.find((e) => e.code === code);
      expect(row, `${key} (${code})`).toBeDefined();
      // The SDK's names are short: Internal for "internal error",
      // Unavailable for "service unavailable".
      expect(pascal(row?.name ?? ""), `${key} (${code})`).toContain(key);
    }
  });

  it("calls temporary what the node answers with a 5xx or 429", () => {
    for (const e of table.errors) {
      expect(isTemporary(e.code), `${e.code} ${e.name} (HTTP ${e.status})`).toBe(e.status >= 500 || e.status === 429);
    }
  });
});

describe("disconnect codes", () => {
  it("the SDK names every code of the node by its reason, and no other", () => {
    const sdk = Object.entries(DisconnectCode)
      .map(([key, code]) => [code, key] as const)
      .sort((a, b) => byCode(a[0], b[0]));
    expect(sdk).toEqual(table.disconnects.map((d) => [d.code, pascal(d.reason)]));
  });

  it("reconnects when the node says to", () => {
    for (const d of table.disconnects) {
      expect(reconnects(d.code), `${d.code} ${d.reason}`).toBe(d.reconnect);
    }
  });
});
