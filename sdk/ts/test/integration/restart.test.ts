// What a node's end looks like to the client: a restart that loses the
// history (memory broker) shows as a gap, after which delivery goes on from
// the new node; and a node that disconnects a user for good is obeyed.

import { afterEach, describe, expect, it } from "vitest";
import type { TransportName } from "../../src/options.js";
import { channel, closeClients, collect, newClient, next, offsets, waitFor } from "../helpers/client.js";
import { API_KEY, type Node, binary, mintToken, skipReason, startNode } from "../helpers/node.js";
import { Proxy } from "../helpers/proxy.js";

describe.skipIf(!binary)(`a node that goes away${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const nodes: Node[] = [];
  const proxies: Proxy[] = [];
  afterEach(async () => {
    closeClients();
    for (const p of proxies.splice(0)) p.close();
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  async function node(): Promise<Node> {
    const n = await startNode(["--shutdown-drain", "100ms"]);
    nodes.push(n);
    return n;
  }

  describe.each(["websocket", "sse", "longpoll"] as TransportName[])("over %s", (transport) => {
    it("reports a gap when the node restarts without its history, then delivers from the new one", async () => {
      const a = await node();
      const proxy = await Proxy.start(a.url);
      proxies.push(proxy);
      const ch = channel("lab", `restart-${transport}`);
      const c = newClient(proxy.url, { transports: [transport] });
      const sub = c.subscribe(ch);
      const got = collect(sub);
      const events: string[] = [];
      sub.on("gap", (g) => events.push(`gap ${g.epoch}/${g.offset}`));
      sub.on("message", (m) => events.push(`message ${m.epoch}/${m.offset}`));
      c.connect();
      await next(sub, "subscribed");
      for (let i = 1; i <= 3; i++) await a.publish(ch, i);
      await waitFor(() => got.length === 3, () => `3 publications, got ${offsets(got)}`);
      const before = sub.position!;

      // The node goes; another, with an empty history, takes its address.
      const b = await node();
      const p1 = await b.publish(ch, "on b");
      expect(p1.epoch).not.toBe(before.epoch);
      proxy.target = b.url;
      const gap = next(sub, "gap", 15_000);
      await a.stop();
      proxy.cut();
      const g = await gap;
      expect(g).toMatchObject({ channel: ch, epoch: p1.epoch, recovered: false });
      const p2 = await b.publish(ch, "after the gap");
      await waitFor(() => sub.position?.epoch === p2.epoch && sub.position.offset === p2.offset, () => `delivery from b, got ${events}`);
      // Nothing from b was delivered before the gap was reported, and
      // nothing from a twice.
      const fromA = events.filter((e) => e.startsWith(`message ${before.epoch}/`));
      expect(fromA).toEqual([1, 2, 3].map((o) => `message ${before.epoch}/${o}`));
      // A poll's cursor is all the node knows of it, so a poll from the
      // old epoch gets the new epoch's history from its start; a stream
      // told recovered: false starts live, after what b held.
      const at = events.findIndex((e) => e.startsWith("gap "));
      const after = transport === "longpoll" ? [p1, p2] : [p2];
      expect(events.slice(at + 1)).toEqual(after.map((p) => `message ${p.epoch}/${p.offset}`));
    });
  });

  describe.each(["websocket", "sse"] as TransportName[])("over %s", (transport) => {
    it("stays away when the application disconnects the user", async () => {
      const n = await node();
      const c = newClient(n.url, { transports: [transport], token: mintToken("mallory", 3_600_000) });
      const sub = c.subscribe(channel("lab", `kick-${transport}`));
      c.connect();
      await next(sub, "subscribed");
      const ended = new Promise<{ code: number; reconnect: boolean }>((resolve) => c.on("disconnected", resolve));
      const res = await fetch(`${n.url}/api/disconnect`, {
        method: "POST",
        headers: { Authorization: `apikey ${API_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ user: "mallory" }),
      });
      expect(res.status).toBe(200);
      expect(await ended).toMatchObject({ code: 3502, reconnect: false });
      expect(c.state).toBe("disconnected");
      expect(sub.state).toBe("subscribing");
      await expect(c.ready()).rejects.toMatchObject({ code: 3502 });
    });
  });
});
