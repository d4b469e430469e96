// The leader's relay (src/share/leader.ts) with a connection the test
// drives: which channels it asks the node for and from where, and what each
// member tab is told, as tabs join, fall behind and go.

import { describe, expect, it } from "vitest";
import { resolveOptions } from "../../src/options.js";
import type { Message } from "../../src/share/bus.js";
import { Leader } from "../../src/share/leader.js";
import { type CloseInfo, CloseSignal, type Connection, type ConnectionContext } from "../../src/transports/transport.js";
import { Tabs } from "../helpers/tabs.js";

class DrivenConnection implements Connection {
  readonly transport = "websocket" as const;
  readonly client = "c1";
  private readonly signal = new CloseSignal();
  constructor(readonly ctx: ConnectionContext) {}
  get closed(): Promise<CloseInfo> {
    return this.signal.promise;
  }
  onClosed(l: (info: CloseInfo) => void): void {
    this.signal.listen(l);
  }
  open(): Promise<void> {
    return Promise.resolve();
  }
  start(): void {}
  sync(): void {}
  close(): void {
    this.signal.fire({ code: 0, reason: "closed", reconnect: false });
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const e = "E1";
const at = (offset: number) => ({ epoch: e, offset });
const pub = (offset: number) => ({ channel: "lab:x", epoch: e, offset, data: offset, time: 1 });

describe("the share leader", () => {
  it("asks from the oldest position, starts each member from its own, relays once, and starts again for a member behind it", async () => {
    const tabs = new Tabs();
    const conns: DrivenConnection[] = [];
    const sent: Message[] = [];
    const leader = new Leader({
      id: "L",
      options: resolveOptions("http://127.0.0.1:1", { transports: ["websocket"], storage: null, minBackoff: 5, maxBackoff: 10 }),
      locks: tabs.locks.for("L"),
      tabLock: (m) => `tab:${m}`,
      post: (m) => sent.push(m),
      create: (_t, ctx) => {
        const c = new DrivenConnection(ctx);
        conns.push(c);
        return c;
      },
      token: () => undefined,
      refreshToken: () => Promise.resolve(),
      canRefreshToken: () => false,
      prepare: () => Promise.resolve(),
      storageKey: "k",
    });
    const to = (member: string, t: Message["t"]) => sent.filter((m) => m.t === t && ("to" in m && (m.to === member || (Array.isArray(m.to) && m.to.includes(member)))));
    try {
      // Members hold their own locks while they live.
      for (const m of ["m1", "m2", "m3"]) void tabs.locks.for(m).request(`tab:${m}`, {}, () => new Promise(() => {}));

      leader.start();
      expect(sent[0]).toEqual({ t: "leader", leader: "L", up: false });
      leader.receive({ t: "sync", from: "m1", to: "L", channels: [{ channel: "lab:x" }] });
      leader.receive({ t: "sync", from: "m2", to: "L", channels: [{ channel: "lab:x", since: at(5) }] });
      await until(() => conns.length === 1 && sent.some((m) => m.t === "up"), "the connection");
      const h = conns[0]!.ctx.handler;
      expect(h.channels()).toEqual([{ channel: "lab:x", since: at(5) }]);

      h.started("lab:x", { epoch: e, offset: 8, recovered: true }, at(5));
      expect(to("m1", "started")).toEqual([{ t: "started", leader: "L", to: "m1", channel: "lab:x", start: { epoch: e, offset: 8, recovered: true } }]);
      expect(to("m2", "started")).toEqual([{ t: "started", leader: "L", to: "m2", channel: "lab:x", start: { epoch: e, offset: 8, recovered: true }, since: at(5) }]);
      for (const o of [6, 7, 8, 8, 9]) h.publication(pub(o));
      expect(sent.filter((m) => m.t === "pub").map((m) => (m.t === "pub" ? [m.pub.offset, m.to] : []))).toEqual([
        [6, ["m1", "m2"]],
        [7, ["m1", "m2"]],
        [8, ["m1", "m2"]],
        [9, ["m1", "m2"]],
      ]);

      // A member behind where the connection is: a new connection, from it.
      leader.receive({ t: "sync", from: "m3", to: "L", channels: [{ channel: "lab:x", since: at(2) }] });
      await until(() => conns.length === 2, "a second connection");
      expect(to("m3", "started")).toEqual([]);
      const h2 = conns[1]!.ctx.handler;
      expect(h2.channels()).toEqual([{ channel: "lab:x", since: at(2) }]);
      h2.started("lab:x", { epoch: e, offset: 9, recovered: true }, at(2));
      expect(to("m1", "started").at(-1)).toMatchObject({ start: { offset: 9, recovered: true }, since: at(9) });
      expect(to("m3", "started").at(-1)).toMatchObject({ start: { offset: 9, recovered: true }, since: at(2) });
      h2.publication(pub(3));
      expect(sent.at(-1)).toMatchObject({ t: "pub", to: ["m1", "m2", "m3"], pub: { offset: 3 } });

      // m1's tab crashes: its lock goes to the leader, which drops it.
      tabs.locks.kill("m1");
      let next = 4;
      await until(() => {
        h2.publication(pub(next++));
        const last = sent.at(-1);
        return last?.t === "pub" && !last.to.includes("m1");
      }, "m1 dropped");
      expect(sent.at(-1)).toMatchObject({ t: "pub", to: ["m2", "m3"] });

      // Every member gone: the channel is no longer asked for.
      leader.receive({ t: "bye", from: "m2", to: "L" });
      leader.receive({ t: "sync", from: "m3", to: "L", channels: [] });
      expect(h2.channels()).toEqual([]);
    } finally {
      leader.stop();
      tabs.close();
    }
  });
});
