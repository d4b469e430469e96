import { describe, expect, it } from "vitest";
import { Backoff } from "../../src/backoff.js";

describe("backoff", () => {
  it("draws every wait within [0, min(max, min·2^n)]", () => {
    const min = 500;
    const max = 20_000;
    for (const random of [() => 0, () => 0.999999999, Math.random]) {
      const b = new Backoff({ min, max, stableAfter: 10_000, random });
      for (let n = 0; n < 100; n++) {
        const ceiling = Math.min(max, min * 2 ** n);
        expect(b.ceiling()).toBe(ceiling);
        const w = b.next();
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(w)).toBe(true);
      }
    }
  });

  it("reaches both ends of the range (full jitter)", () => {
    expect(new Backoff({ min: 500, max: 20_000, stableAfter: 1, random: () => 0 }).next()).toBe(0);
    const top = new Backoff({ min: 500, max: 20_000, stableAfter: 1, random: () => 0.9999999999 });
    expect([top.next(), top.next(), top.next(), top.next(), top.next(), top.next(), top.next()]).toEqual([500, 1000, 2000, 4000, 8000, 16000, 20000]);
  });

  it("spreads draws over the range", () => {
    const b = new Backoff({ min: 1000, max: 1000, stableAfter: 1 });
    const draws = Array.from({ length: 2000 }, () => b.next());
    const mean = draws.reduce((a, x) => a + x, 0) / draws.length;
    // Uniform on [0, 1000]: mean 500, and both halves well used.
    expect(mean).toBeGreaterThan(400);
    expect(mean).toBeLessThan(600);
    expect(draws.filter((d) => d < 100).length).toBeGreaterThan(50);
    expect(draws.filter((d) => d > 900).length).toBeGreaterThan(50);
  });

  it("never goes below min when max is smaller", () => {
    const b = new Backoff({ min: 1000, max: 10, stableAfter: 1, random: () => 0.9999999 });
    expect(b.next()).toBe(1000);
  });

  it("starts again from min after a stable connection", () => {
    let now = 0;
    const b = new Backoff({ min: 100, max: 10_000, stableAfter: 5_000, random: () => 0.5, now: () => now });
    for (let i = 0; i < 5; i++) b.next();
    expect(b.ceiling()).toBe(3200);
    b.connected();
    now += 5_000;
    b.disconnected();
    expect(b.ceiling()).toBe(100);
    expect(b.count).toBe(0);
  });

  it("keeps growing after a connection that dropped soon", () => {
    let now = 0;
    const b = new Backoff({ min: 100, max: 10_000, stableAfter: 5_000, random: () => 0.5, now: () => now });
    for (let i = 0; i < 3; i++) b.next();
    b.connected();
    now += 4_999;
    b.disconnected();
    expect(b.ceiling()).toBe(800);
    // Without a connected() first, a disconnect resets nothing.
    now += 100_000;
    b.disconnected();
    expect(b.ceiling()).toBe(800);
  });
});
