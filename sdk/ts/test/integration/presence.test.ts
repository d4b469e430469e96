// Presence against a real node, in the demo's chat namespace (presence and
// join/leave on): who is in a channel whatever their transport, join and
// leave as subscription events over WebSocket and SSE, and a polling client
// counted once however many polls it makes.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Switchboard } from "../../src/client.js";
import type { TransportName } from "../../src/options.js";
import type { ClientInfo } from "../../src/protocol.js";
import type { PresenceEvent } from "../../src/transports/transport.js";
import { channel, closeClients, newClient, next, waitFor } from "../helpers/client.js";
import { type Node, binary, mintToken, skipReason, startNode } from "../helpers/node.js";

const users = (cs: ClientInfo[]) => cs.map((c) => c.user ?? "-").sort();

/** Asks for presence until ok() holds (entries arrive as clients connect), or 10s pass. */
async function presenceUntil(c: Switchboard, ch: string, ok: (cs: ClientInfo[]) => boolean): Promise<ClientInfo[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await c.presence(ch);
    if (ok(got) || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!binary)(`presence against a node${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;

  beforeAll(async () => {
    node = await startNode();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await node?.stop();
  });

  function member(user: string, transport: TransportName) {
    return newClient(node.url, { transports: [transport], token: mintToken(user, 3_600_000), pollInterval: 100 });
  }

  it("lists the clients of a channel on every transport, asked over any of them", async () => {
    const ch = channel("chat", "who");
    const who: Record<string, TransportName> = { ann: "websocket", bob: "sse", cat: "longpoll", dan: "poll" };
    const clients = Object.entries(who).map(([user, t]) => member(user, t));
    const subscribed = clients.map((c) => next(c.subscribe(ch), "subscribed"));
    for (const c of clients) c.connect();
    await Promise.all(subscribed);
    for (const c of clients) {
      const got = await presenceUntil(c, ch, (cs) => users(cs).join() === "ann,bob,cat,dan");
      expect(users(got), `asked over ${c.transport}`).toEqual(["ann", "bob", "cat", "dan"]);
    }
  });

  it("counts a polling client once across its polls and reconnections", async () => {
    const ch = channel("chat", "polls");
    let polls = 0;
    const counting: typeof fetch = (input, init) => {
      if (String(input).includes("/connection/poll?")) polls++;
      return fetch(input, init);
    };
    const c = newClient(node.url, { transports: ["poll"], token: mintToken("eve", 3_600_000), pollInterval: 50, fetch: counting });
    const sub = c.subscribe(ch);
    c.connect();
    await next(sub, "subscribed");
    const first = c.client;
    expect(first).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    // Many polls, one entry.
    await waitFor(() => polls >= 6, () => `6 polls, made ${polls}`);
    c.disconnect();
    c.connect();
    await next(sub, "subscribed");
    expect(c.client).toBe(first);
    const got = await c.presence(ch);
    expect(got.filter((x) => x.user === "eve")).toEqual([{ client: first, user: "eve" }]);
  });

  describe.each(["websocket", "sse"] as TransportName[])("join and leave over %s", (transport) => {
    it("tells a subscriber who comes and goes", async () => {
      const ch = channel("chat", `joins-${transport}`);
      const watcher = member("wes", transport);
      const sub = watcher.subscribe(ch);
      const events: string[] = [];
      const log = (kind: string) => (e: PresenceEvent) => events.push(`${kind} ${e.user ?? "-"}`);
      sub.on("join", log("join"));
      sub.on("leave", log("leave"));
      watcher.connect();
      await next(sub, "subscribed");

      const visitor = member("vic", "websocket");
      const vsub = visitor.subscribe(ch);
      visitor.connect();
      await next(vsub, "subscribed");
      await waitFor(() => events.includes("join vic"), () => `join vic, got ${events}`);
      vsub.unsubscribe();
      await waitFor(() => events.includes("leave vic"), () => `leave vic, got ${events}`);
      expect(events.filter((e) => e.endsWith(" vic"))).toEqual(["join vic", "leave vic"]);
    });
  });
});
