// Every behaviour, over every transport, against a real node: live delivery,
// resume through a cut connection with no gap and no duplicate, publishing
// with an idempotency key, and a refused channel that leaves the others be.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TransportName } from "../../src/options.js";
import { channel, closeClients, collect, newClient, next, offsets, waitFor } from "../helpers/client.js";
import { type Node, binary, skipReason, startNode } from "../helpers/node.js";
import { Proxy } from "../helpers/proxy.js";

const transports: TransportName[] = ["websocket", "sse", "longpoll", "poll"];
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.skipIf(!binary)(`every transport against a node${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;
  let proxy: Proxy;

  beforeAll(async () => {
    node = await startNode();
    proxy = await Proxy.start(node.url);
  });
  afterEach(() => {
    closeClients();
    proxy.refuse = false;
  });
  afterAll(async () => {
    proxy?.close();
    await node?.stop();
  });

  describe.each(transports)("%s", (transport) => {
    it("delivers live publications in order", async () => {
      const ch = channel("lab", `live-${transport}`);
      const c = newClient(node.url, { transports: [transport] });
      const connected: string[] = [];
      c.on("connected", (e) => connected.push(e.transport));
      const sub = c.subscribe(ch);
      const got = collect(sub);
      c.connect();
      const started = await next(sub, "subscribed");
      expect(started.recovered).toBe(true);
      expect(connected).toEqual([transport]);
      expect(c.transport).toBe(transport);
      for (let i = 1; i <= 5; i++) await node.publish(ch, { n: i });
      await waitFor(() => got.length >= 5, () => `5 publications, got ${offsets(got)}`);
      expect(offsets(got)).toEqual(range(1, 5));
      expect(got.map((p) => p.data)).toEqual(range(1, 5).map((n) => ({ n })));
      expect(got.every((p) => p.channel === ch && typeof p.epoch === "string" && p.time > 0)).toBe(true);
    });

    it("resumes after the connection is cut, with no gap and no duplicate", async () => {
      const ch = channel("lab", `resume-${transport}`);
      const c = newClient(proxy.url, { transports: [transport] });
      const sub = c.subscribe(ch);
      const got = collect(sub);
      const gaps: unknown[] = [];
      sub.on("gap", (g) => gaps.push(g));
      let disconnects = 0;
      c.on("disconnected", () => disconnects++);
      c.connect();
      await next(sub, "subscribed");
      for (let i = 1; i <= 3; i++) await node.publish(ch, i);
      await waitFor(() => got.length >= 3, () => `3 publications, got ${offsets(got)}`);

      // Cut every connection and keep the client out while more is published.
      proxy.refuse = true;
      proxy.cut();
      for (let i = 4; i <= 8; i++) await node.publish(ch, i);
      if (transport !== "poll") await waitFor(() => disconnects > 0, () => "a disconnect");
      proxy.refuse = false;

      await waitFor(() => got.length >= 8, () => `8 publications, got ${offsets(got)}`);
      await node.publish(ch, 9);
      await waitFor(() => got.length >= 9, () => `9 publications, got ${offsets(got)}`);
      // Let anything repeated arrive before checking there was none.
      await new Promise((r) => setTimeout(r, 200));
      expect(offsets(got)).toEqual(range(1, 9));
      expect(got.map((p) => p.data)).toEqual(range(1, 9));
      expect(gaps).toEqual([]);
      expect(sub.position?.offset).toBe(9);
    });

    it("publishes with an idempotency key: a repeat lands once", async () => {
      const ch = channel("lab", `publish-${transport}`);
      const c = newClient(node.url, { transports: [transport] });
      const sub = c.subscribe(ch);
      const got = collect(sub);
      c.connect();
      await next(sub, "subscribed");
      const first = await c.publish(ch, { text: "once" }, { key: `k-${transport}` });
      const again = await c.publish(ch, { text: "once" }, { key: `k-${transport}` });
      const other = await c.publish(ch, { text: "auto key" });
      expect(again.offset).toBe(first.offset);
      expect(again.epoch).toBe(first.epoch);
      expect(other.offset).toBe(first.offset + 1);
      expect(other.key).toMatch(/.{16,}/);
      await waitFor(() => got.length >= 2, () => `2 publications, got ${offsets(got)}`);
      await new Promise((r) => setTimeout(r, 200));
      expect(got.map((p) => [p.offset, p.key])).toEqual([
        [first.offset, `k-${transport}`],
        [other.offset, other.key],
      ]);
    });

    it("does not take a refused channel for a transport that fails", async () => {
      const c = newClient(node.url, { transports: [transport, ...transports.filter((t) => t !== transport)] });
      const tried: string[] = [];
      c.on("connecting", (e) => tried.push(e.transport));
      const bad = c.subscribe("nope:alone");
      c.connect();
      expect((await next(bad, "error")).code).toBe(102);
      await c.ready();
      expect(c.transport).toBe(transport);
      expect(tried).toEqual([transport]);
      // And the connection carries what comes next.
      const ok = c.subscribe(channel("lab", `after-refusal-${transport}`));
      const got = collect(ok);
      await next(ok, "subscribed");
      await node.publish(ok.channel, "carried");
      await waitFor(() => got.length === 1, () => "a publication after the refusal");
      expect(tried).toEqual([transport]);
    });

    it("refuses a forbidden channel and keeps the others", async () => {
      const ok = channel("lab", `ok-${transport}`);
      const c = newClient(node.url, { transports: [transport] });
      const good = c.subscribe(ok);
      const got = collect(good);
      c.connect();
      await next(good, "subscribed");
      // No namespace "nope" on the node: code 102, unknown channel.
      const bad = c.subscribe("nope:x");
      const err = await next(bad, "error");
      expect(err.code).toBe(102);
      expect(bad.state).toBe("unsubscribed");
      expect(c.getSubscription("nope:x")).toBeUndefined();
      await node.publish(ok, "still here");
      await waitFor(() => got.length >= 1, () => "a publication on the good channel");
      expect(got[0]!.data).toBe("still here");
    });
  });
});
