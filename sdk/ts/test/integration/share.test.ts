// The share option against a real node: several tabs, one connection. The
// tabs are clients in one Node process, talking over Node's BroadcastChannel
// and electing a leader with a Web Locks stand-in (test/helpers/tabs.ts);
// Chromium runs the same with real tabs (e2e/browser_tabs_test.go).

import { afterEach, beforeAll, afterAll, describe, expect, it } from "vitest";
import type { Switchboard } from "../../src/client.js";
import type { TransportName } from "../../src/options.js";
import type { Publication } from "../../src/protocol.js";
import { channel, closeClients, collect, newClient, offsets, waitFor } from "../helpers/client.js";
import { API_KEY, type Node, binary, skipReason, startNode } from "../helpers/node.js";
import { Tabs } from "../helpers/tabs.js";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function sessions(node: Node): Promise<number> {
  const res = await fetch(`${node.url}/api/info`, { headers: { Authorization: `apikey ${API_KEY}` } });
  const info = (await res.json()) as { sessions: Record<string, number> };
  return Object.values(info.sessions ?? {}).reduce((a, b) => a + b, 0);
}

// oneSession waits until the node counts one session over every transport.
async function oneSession(node: Node): Promise<void> {
  const deadline = Date.now() + 15_000;
  let n = await sessions(node);
  while (n !== 1) {
    if (Date.now() > deadline) throw new Error(`the node has ${n} sessions, want 1`);
    await new Promise((r) => setTimeout(r, 50));
    n = await sessions(node);
  }
}

interface Tab {
  name: string;
  sb: Switchboard;
  got: Publication[];
  gaps: unknown[];
}

describe.skipIf(!binary)(`tabs sharing one connection${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;
  let tabs: Tabs;

  beforeAll(async () => {
    node = await startNode();
  });
  afterEach(() => {
    closeClients();
    tabs?.close();
  });
  afterAll(async () => {
    await node?.stop();
  });

  function openTab(name: string, ch: string, transport: TransportName, since?: { epoch: string; offset: number }): Tab {
    const sb = newClient(node.url, {
      transports: [transport],
      share: true,
      locks: tabs.locks.for(name),
      BroadcastChannel: tabs.broadcastChannel(name),
    });
    const sub = sb.subscribe(ch, since ? { since } : {});
    const tab: Tab = { name, sb, got: collect(sub), gaps: [] };
    sub.on("gap", (g) => tab.gaps.push(g));
    sb.connect();
    return tab;
  }

  describe.each<TransportName>(["websocket", "sse", "longpoll"])("%s", (transport) => {
    for (const how of ["crashes", "disconnects"] as const) {
      it(`holds one session for four tabs, and every tab gets every offset once in order when the leader ${how}`, async () => {
        tabs = new Tabs();
        const ch = channel("lab", `share-${transport}-${how}`);
        const all = ["a", "b", "c", "d"].map((n) => openTab(n, ch, transport));
        await waitFor(() => all.every((t) => t.sb.state === "connected" && t.sb.getSubscription(ch)?.state === "subscribed"), () => "every tab subscribed");
        const [first, ...rest] = all;
        expect(all.filter((t) => t.sb.leader).map((t) => t.name)).toEqual(["a"]);
        expect(all.map((t) => t.sb.transport)).toEqual(all.map(() => transport));
        await oneSession(node);

        for (let i = 1; i <= 20; i++) await node.publish(ch, { n: i });
        await waitFor(() => all.every((t) => t.got.length >= 10), () => "10 publications in every tab");
        if (how === "crashes") tabs.kill(first!.name);
        first!.sb.disconnect();
        for (let i = 21; i <= 60; i++) await node.publish(ch, { n: i });

        await waitFor(
          () => rest.every((t) => t.got.length >= 60),
          () => `60 publications in every tab, got ${rest.map((t) => `${t.name}:${t.got.length}`).join(" ")}`,
          15_000,
        );
        for (const t of rest) {
          expect(offsets(t.got), t.name).toEqual(range(1, 60));
          expect(t.got.map((p) => (p.data as { n: number }).n), t.name).toEqual(range(1, 60));
          expect(t.gaps, t.name).toEqual([]);
        }
        expect(rest.filter((t) => t.sb.leader)).toHaveLength(1);
        await oneSession(node);
      });
    }
  });

  it("replays to a tab that joins behind the shared position, and starts a new tab live, with nothing repeated to the others", async () => {
    tabs = new Tabs();
    const ch = channel("lab", "share-join");
    const a = openTab("a", ch, "websocket");
    const b = openTab("b", ch, "websocket");
    await waitFor(() => [a, b].every((t) => t.sb.getSubscription(ch)?.state === "subscribed"), () => "a and b subscribed");
    let epoch = "";
    for (let i = 1; i <= 10; i++) epoch = (await node.publish(ch, { n: i })).epoch;
    await waitFor(() => [a, b].every((t) => t.got.length >= 10), () => "10 publications in a and b");

    const behind = openTab("behind", ch, "websocket", { epoch, offset: 3 });
    const live = openTab("live", ch, "websocket");
    await waitFor(() => behind.got.length >= 7 && live.sb.getSubscription(ch)?.state === "subscribed", () => `the replay, got ${offsets(behind.got)}`);
    for (let i = 11; i <= 15; i++) await node.publish(ch, { n: i });
    await waitFor(() => [a, b, behind].every((t) => t.got.length >= 15 - (t === behind ? 3 : 0)) && live.got.length >= 5, () => "15 publications");

    expect(offsets(a.got)).toEqual(range(1, 15));
    expect(offsets(b.got)).toEqual(range(1, 15));
    expect(offsets(behind.got)).toEqual(range(4, 15));
    expect(offsets(live.got)).toEqual(range(11, 15));
    for (const t of [a, b, behind, live]) expect(t.gaps, t.name).toEqual([]);
    await oneSession(node);
  });
});
