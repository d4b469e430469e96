import { describe, expect, it } from "vitest";
import type { Publication } from "../../src/protocol.js";
import { type GapEvent, Subscription, type SubscribedEvent } from "../../src/subscription.js";

function setup(since?: { epoch: string; offset: number }) {
  const owner = { removed: 0, removeSubscription: () => void owner.removed++, publish: async () => ({ epoch: "x1", offset: 1, key: "k" }) };
  const sub = new Subscription("chat:lobby", owner, since);
  const got: number[] = [];
  const gaps: GapEvent[] = [];
  const subscribed: SubscribedEvent[] = [];
  sub.on("message", (m) => got.push(m.offset));
  sub.on("gap", (g) => gaps.push(g));
  sub.on("subscribed", (e) => subscribed.push(e));
  return { sub, owner, got, gaps, subscribed };
}

const pub = (offset: number, epoch = "x1"): Publication => ({ channel: "chat:lobby", epoch, offset, data: { n: offset }, time: 0 });

describe("subscription", () => {
  it("drops publications at or below its position", () => {
    const { sub, got } = setup();
    sub.started({ epoch: "x1", offset: 10, recovered: true }, undefined);
    for (const o of [11, 12, 12, 11, 13, 10, 13, 14]) sub.deliver(pub(o));
    expect(got).toEqual([11, 12, 13, 14]);
    expect(sub.position).toEqual({ epoch: "x1", offset: 14 });
  });

  it("keeps its position across a resume and drops what the new connection repeats", () => {
    const { sub, got, gaps } = setup();
    sub.started({ epoch: "x1", offset: 0, recovered: true }, undefined);
    [1, 2, 3].forEach((o) => sub.deliver(pub(o)));
    sub.suspended();
    expect(sub.state).toBe("subscribing");
    // The new connection resumed from 3 (or an older position): the node
    // replays after it; anything at or below 3 is a repeat.
    sub.started({ epoch: "x1", offset: 5, recovered: true }, { epoch: "x1", offset: 2 });
    expect(sub.position).toEqual({ epoch: "x1", offset: 3 });
    [3, 4, 5, 6].forEach((o) => sub.deliver(pub(o)));
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(gaps).toEqual([]);
    expect(sub.state).toBe("subscribed");
  });

  it("starts live at the node's position without since", () => {
    const { sub, got, subscribed } = setup();
    sub.started({ epoch: "x1", offset: 44, recovered: true }, undefined);
    expect(sub.position).toEqual({ epoch: "x1", offset: 44 });
    sub.deliver(pub(44));
    sub.deliver(pub(45));
    expect(got).toEqual([45]);
    expect(subscribed).toEqual([{ channel: "chat:lobby", epoch: "x1", offset: 44, recovered: true }]);
  });

  it("reports a gap and continues from the node's position when not recovered", () => {
    const { sub, got, gaps, subscribed } = setup({ epoch: "x1", offset: 41 });
    sub.started({ epoch: "x2", offset: 3, recovered: false }, { epoch: "x1", offset: 41 });
    expect(subscribed[0]!.recovered).toBe(false);
    expect(gaps).toEqual([{ channel: "chat:lobby", epoch: "x2", offset: 3, recovered: false, from: { epoch: "x1", offset: 41 } }]);
    expect(sub.position).toEqual({ epoch: "x2", offset: 3 });
    sub.deliver(pub(3, "x2"));
    sub.deliver(pub(4, "x2"));
    expect(got).toEqual([4]);
  });

  it("reports a gap when offsets skip or the epoch changes", () => {
    const { sub, got, gaps } = setup({ epoch: "x1", offset: 1 });
    sub.deliver(pub(2));
    sub.deliver(pub(5));
    sub.deliver(pub(1, "x9"));
    expect(got).toEqual([2, 5, 1]);
    expect(gaps.map((g) => [g.epoch, g.offset])).toEqual([
      ["x1", 4],
      ["x9", 0],
    ]);
  });

  it("reports the node's gap push with the old and new positions, then takes the new epoch from its start", () => {
    const { sub, got, gaps } = setup();
    sub.started({ epoch: "x1", offset: 0, recovered: true }, undefined);
    [1, 2, 3].forEach((o) => sub.deliver(pub(o)));
    sub.epochChanged("x2", { epoch: "x1", offset: 3 });
    expect(gaps).toEqual([{ channel: "chat:lobby", epoch: "x2", offset: 0, recovered: false, from: { epoch: "x1", offset: 3 } }]);
    expect(sub.position).toEqual({ epoch: "x2", offset: 0 });
    [1, 2].forEach((o) => sub.deliver(pub(o, "x2")));
    expect(got).toEqual([1, 2, 3, 1, 2]);
    expect(gaps).toHaveLength(1);
    expect(sub.position).toEqual({ epoch: "x2", offset: 2 });
    // A repeated push for the epoch it is in already is no news.
    sub.epochChanged("x2", { epoch: "x1", offset: 3 });
    expect(gaps).toHaveLength(1);
  });

  it("resumes from a position given at subscribe", () => {
    const { sub, got } = setup({ epoch: "x1", offset: 7 });
    expect(sub.position).toEqual({ epoch: "x1", offset: 7 });
    sub.started({ epoch: "x1", offset: 9, recovered: true }, { epoch: "x1", offset: 7 });
    [7, 8, 9].forEach((o) => sub.deliver(pub(o)));
    expect(got).toEqual([8, 9]);
  });

  it("delivers nothing after unsubscribe", () => {
    const { sub, owner, got } = setup();
    const ended: string[] = [];
    sub.on("unsubscribed", (e) => ended.push(e.reason));
    sub.started({ epoch: "x1", offset: 0, recovered: true }, undefined);
    sub.deliver(pub(1));
    sub.unsubscribe();
    sub.unsubscribe();
    sub.deliver(pub(2));
    expect(got).toEqual([1]);
    expect(owner.removed).toBe(1);
    expect(ended).toEqual(["unsubscribed"]);
    expect(sub.state).toBe("unsubscribed");
  });

  it("reports a gap on the next start after its position was dropped", () => {
    const { sub, gaps } = setup({ epoch: "x1", offset: 5 });
    sub.forget();
    expect(sub.position).toBeUndefined();
    sub.started({ epoch: "x1", offset: 9, recovered: true }, undefined);
    expect(gaps).toHaveLength(1);
    expect(sub.position).toEqual({ epoch: "x1", offset: 9 });
  });
});
