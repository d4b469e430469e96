import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Cursor, CursorError, channelHash, crc32 } from "../../src/cursor.js";

// Vectors printed by the node's own Go code (stream.Cursor, ParseCursor and
// ChannelHash): see test/fixtures/cursorgen.go.txt for the program and how
// to run it again.
interface Fixture {
  vectors: { name: string; entries: { channel: string; epoch: string; offset: string }[]; cursor: string }[];
  invalid: { name: string; cursor: string; error: string }[];
  hashes: { channel: string; hash: string }[];
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/cursors.json", import.meta.url), "utf8")) as Fixture;

describe("cursor", () => {
  it("hashes channel names as the node does (64-bit FNV-1a)", () => {
    for (const h of fixture.hashes) expect(channelHash(h.channel), h.channel).toBe(BigInt(h.hash));
  });

  it("computes CRC-32 (IEEE)", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  for (const v of fixture.vectors) {
    it(`encodes like the node: ${v.name}`, () => {
      const c = new Cursor();
      for (const e of v.entries) c.set(e.channel, { epoch: e.epoch, offset: BigInt(e.offset) });
      expect(c.toString()).toBe(v.cursor);
    });

    it(`decodes the node's cursor: ${v.name}`, () => {
      const c = Cursor.parse(v.cursor);
      expect(c.size).toBe(v.entries.length);
      for (const e of v.entries) {
        expect(c.entry(e.channel), e.channel).toEqual({ hash: channelHash(e.channel), epoch: e.epoch, offset: BigInt(e.offset) });
      }
      // Decoding and encoding again gives the same text: one spelling per cursor.
      expect(c.toString()).toBe(v.cursor);
    });
  }

  for (const v of fixture.invalid) {
    it(`refuses what the node refuses: ${v.name} (${v.error})`, () => {
      expect(() => Cursor.parse(v.cursor)).toThrow(CursorError);
    });
  }

  it("keeps the docs' example readable", () => {
    // docs/transports.md: the connected event of a stream over chat:lobby and dashboard:sales.
    const c = Cursor.parse("AQJnGG-iOTlvEQhXLVB5bF9JMQC4LZ2QYpX0mQhabV9qX0l6eAF67wQU");
    expect(c.get("chat:lobby")).toEqual({ epoch: "Zm_j_Izx", offset: 1 });
    expect(c.get("dashboard:sales")).toEqual({ epoch: "W-Pyl_I1", offset: 0 });
    expect(c.get("chat:other")).toBeUndefined();
  });

  it("sets, replaces and deletes positions", () => {
    const c = Cursor.from([
      ["b", { epoch: "e", offset: 2 }],
      ["a", { epoch: "e", offset: 1 }],
    ]);
    c.set("a", { epoch: "f", offset: 10 });
    expect(c.size).toBe(2);
    expect(c.get("a")).toEqual({ epoch: "f", offset: 10 });
    c.delete("b");
    c.delete("missing");
    expect(c.size).toBe(1);
    expect(Cursor.parse(c.toString()).get("a")).toEqual({ epoch: "f", offset: 10 });
  });

  it("round-trips random positions", () => {
    for (let round = 0; round < 50; round++) {
      const c = new Cursor();
      const want = new Map<string, { epoch: string; offset: number }>();
      const n = Math.floor(Math.random() * 20);
      for (let i = 0; i < n; i++) {
        const ch = `ns:${Math.random().toString(36).slice(2)}`;
        const p = { epoch: Math.random().toString(36).slice(2, 10), offset: Math.floor(Math.random() * Number.MAX_SAFE_INTEGER) };
        c.set(ch, p);
        want.set(ch, p);
      }
      const back = Cursor.parse(c.toString());
      expect(back.size).toBe(want.size);
      for (const [ch, p] of want) expect(back.get(ch)).toEqual(p);
    }
  });

  it("refuses every altered byte", () => {
    const good = fixture.vectors.find((v) => v.name === "two channels")!.cursor;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let i = 0; i < good.length; i++) {
      const other = alphabet[(alphabet.indexOf(good[i]!) + 1) % alphabet.length]!;
      const bad = good.slice(0, i) + other + good.slice(i + 1);
      expect(() => Cursor.parse(bad), `character ${i}`).toThrow(CursorError);
    }
  });
});
