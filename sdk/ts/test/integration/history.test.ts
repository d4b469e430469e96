// History against a real node, over every transport: the WebSocket history
// command, and GET /connection/history for SSE and polling clients, with the
// same answers.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TransportName } from "../../src/options.js";
import { channel, closeClients, newClient, next, offsets } from "../helpers/client.js";
import { type Node, binary, mintToken, skipReason, startNode } from "../helpers/node.js";

describe.skipIf(!binary)(`history against a node${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;

  beforeAll(async () => {
    node = await startNode();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await node?.stop();
  });

  describe.each(["sse", "longpoll", "websocket"] as TransportName[])("%s", (transport) => {
    it("reads a channel's history, forward from a position and back from the newest", async () => {
      const ch = channel("lab", `history-${transport}`);
      let last = { epoch: "", offset: 0 };
      for (const n of [1, 2, 3, 4]) last = await node.publish(ch, { n });

      const c = newClient(node.url, { transports: [transport], token: mintToken("hana", 3_600_000) });
      const sub = c.subscribe(ch);
      c.connect();
      await next(sub, "subscribed");
      expect(c.transport).toBe(transport);

      const all = await c.history<{ n: number }>(ch);
      expect(all).toMatchObject({ channel: ch, epoch: last.epoch, offset: 4 });
      expect(all.publications.map((p) => p.data.n)).toEqual([1, 2, 3, 4]);
      expect(all.publications.every((p) => p.channel === ch && p.epoch === last.epoch && p.time > 0)).toBe(true);

      const after = await c.history(ch, { since: { epoch: last.epoch, offset: 1 }, limit: 2 });
      expect(offsets(after.publications)).toEqual([2, 3]);
      const newest = await c.history(ch, { reverse: true, limit: 2 });
      expect(offsets(newest.publications)).toEqual([4, 3]);

      await expect(c.history("nope:x")).rejects.toMatchObject({ code: 102 });
      await expect(c.history(ch, { limit: 5000 })).rejects.toMatchObject({ code: 107 });
    });
  });
});
