// Test doubles: a scripted WebSocket, and a handler that records what a
// connection reports.

import { expect, vi } from "vitest";
import type { SwitchboardError } from "../../src/errors.js";
import { type ResolvedOptions, resolveOptions } from "../../src/options.js";
import type { Position, Publication } from "../../src/protocol.js";
import type { ChannelRequest, ConnectionContext, ConnectionHandler, PresenceEvent, StartResult } from "../../src/transports/transport.js";

/** A WebSocket whose other end is the test. */
export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closedWith: number | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number): void {
    this.closedWith = code ?? 1000;
    this.readyState = 3;
  }

  /** The node accepts the upgrade. */
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The node sends a frame. */
  push(frame: string): void {
    this.onmessage?.({ data: frame });
  }

  /** The connection ends with a close frame (or none: 1006). */
  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** The frames the client sent, parsed. */
  commands(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>);
  }
}

/** A ConnectionHandler that records every call, over a fixed channel list. */
export class RecordingHandler implements ConnectionHandler {
  reqs: ChannelRequest[] = [];
  startedLog: { channel: string; start: StartResult; since: Position | undefined }[] = [];
  publications: Publication[] = [];
  refusedLog: { channel: string; err: SwitchboardError }[] = [];
  endedLog: { channel: string; code: number; reason: string }[] = [];
  presenceLog: { kind: string; ev: PresenceEvent }[] = [];
  errors: SwitchboardError[] = [];
  badCursors = 0;
  tokenValue: string | undefined;
  refreshes = 0;

  channels(): ChannelRequest[] {
    return this.reqs.map((r) => ({ ...r }));
  }
  started(channel: string, start: StartResult, since: Position | undefined): void {
    this.startedLog.push({ channel, start, since });
  }
  publication(pub: Publication): void {
    this.publications.push(pub);
  }
  gapLog: { channel: string; epoch: string; from: Position | undefined }[] = [];
  gap(channel: string, epoch: string, from: Position | undefined): void {
    this.gapLog.push({ channel, epoch, from });
  }
  refused(channel: string, err: SwitchboardError): void {
    this.refusedLog.push({ channel, err });
    this.reqs = this.reqs.filter((r) => r.channel !== channel);
  }
  ended(channel: string, code: number, reason: string): void {
    this.endedLog.push({ channel, code, reason });
  }
  presence(kind: "join" | "leave", ev: PresenceEvent): void {
    this.presenceLog.push({ kind, ev });
  }
  badCursor(): void {
    this.badCursors++;
  }
  error(err: SwitchboardError): void {
    this.errors.push(err);
  }
  token(): string | undefined {
    return this.tokenValue;
  }
  /** Makes the tokens refreshToken hands out; default fresh-N. */
  nextToken: (n: number) => string = (n) => `fresh-${n}`;
  canRefresh = false;
  async refreshToken(): Promise<void> {
    this.refreshes++;
    this.tokenValue = this.nextToken(this.refreshes);
  }
  canRefreshToken(): boolean {
    return this.canRefresh;
  }
}

/** A connection context over fakes. */
export function fakeContext(handler: ConnectionHandler, over: Partial<ResolvedOptions> = {}): ConnectionContext {
  const options = {
    ...resolveOptions("http://node.test", { storage: null }),
    WebSocket: FakeWebSocket,
    ...over,
  };
  return { handler, options };
}

/** A fetch whose answers the test gives, one request at a time. */
export class FakeFetch {
  requests: { url: URL; init: RequestInit | undefined; answered: boolean }[] = [];
  private waiting: { resolve(r: Response): void; reject(e: unknown): void; index: number }[] = [];

  readonly fetch = ((input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const index = this.requests.length;
    this.requests.push({ url: new URL(String(input)), init, answered: false });
    return new Promise<Response>((resolve, reject) => {
      const w = { resolve, reject, index };
      this.waiting.push(w);
      init?.signal?.addEventListener("abort", () => {
        this.waiting = this.waiting.filter((x) => x !== w);
        reject(new DOMException("aborted", "AbortError"));
      });
    });
  }) as typeof fetch;

  /** Requests not answered yet. */
  get pending(): number {
    return this.waiting.length;
  }

  /**
   * Answers the read of a channel's position that a subscription made
   * before connect() (or off a WebSocket) starts with: GET history?limit=0.
   */
  async answerPosition(channel: string, epoch: string, offset: number): Promise<void> {
    await vi.waitFor(() => expect(this.pending).toBeGreaterThan(0));
    const url = this.answer({ channel, epoch, offset, publications: [] });
    expect(url.pathname.endsWith("/connection/history")).toBe(true);
    expect(url.searchParams.get("channel")).toBe(channel);
    expect(url.searchParams.get("limit")).toBe("0");
  }

  /** Answers the oldest request still waiting with a JSON body. */
  answer(body: unknown, status = 200): URL {
    const w = this.waiting.shift();
    if (!w) throw new Error("no request waits for an answer");
    const r = this.requests[w.index]!;
    r.answered = true;
    w.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));
    return r.url;
  }
}

/** An EventSource whose server is the test. */
export class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private listeners = new Map<string, ((ev: { data: string }) => void)[]>();

  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, l: (ev: { data: string }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  /** The server sends an event; "message" is an unnamed one. */
  emit(type: string, data: unknown): void {
    const ev = { data: typeof data === "string" ? data : JSON.stringify(data) };
    if (type === "message") this.onmessage?.(ev);
    for (const l of this.listeners.get(type) ?? []) l(ev);
  }

  /** The stream fails. */
  fail(): void {
    this.onerror?.({});
  }
}
