// The connection loop: which transport to open, when to fall back to the
// next, when to come back, and when to try a better one again.
//
// Transports are tried in the configured order, starting with the one that
// worked last (remembered across page loads of the session) and wrapping
// round to the better ones. A transport that cannot open within openTimeout,
// or is cut before the node's first frame, is a transport failure: the next
// one is tried at once. A node that answers and refuses is not: the other
// transports would be refused too, so the loop waits (a busy node), renews
// the token (error 109), or stops (a refused token). After a connection ends
// the loop waits a backoff with full jitter and connects again, unless the
// node said not to. While on a worse transport than the first, it tries the
// better ones every upgradeInterval and switches to one that opens.

import type { Backoff } from "./backoff.js";
import { ErrorCode, SwitchboardError, asSwitchboardError, noAnswer } from "./errors.js";
import type { StorageLike, TransportName } from "./options.js";
import type { CloseInfo, Connection, ConnectionFactory } from "./transports/transport.js";

export interface ConnectorOptions {
  transports: TransportName[];
  openTimeout: number;
  /** Negative: never try a better transport again. */
  upgradeInterval: number;
  backoff: Backoff;
  storage: StorageLike | null;
  storageKey: string;
  create: ConnectionFactory;
  /** Runs before each round of attempts (e.g. to get a first token). */
  prepare(): Promise<void>;
  /** Gets a fresh token; rejects when there is no way to. */
  refreshToken(): Promise<void>;
  onConnecting(transport: TransportName): void;
  /** A connection opened (or replaced a worse one). It is started right after. */
  onConnected(conn: Connection): void;
  /**
   * The open connection ended, called in the same tick: what it carried
   * must be marked as resuming now. onDisconnected follows once the loop
   * knows whether it will reconnect (after renewing an expired token).
   */
  onLost?(info: CloseInfo): void;
  onDisconnected(info: CloseInfo): void;
}

type Opened = { conn: Connection; index: number } | { error: SwitchboardError; fatal: boolean };

/** Connector runs the loop; start and stop may be called any number of times. */
export class Connector {
  private run = 0; // bumped by start and stop: an old loop sees it and quits
  private preferred: number;
  private current: Connection | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly o: ConnectorOptions) {
    this.preferred = Math.max(0, o.transports.indexOf(this.remembered() as TransportName));
  }

  /** The open connection, if any. */
  get connection(): Connection | undefined {
    return this.current;
  }

  /** The transport the next attempt starts with. */
  get preferredTransport(): TransportName {
    return this.o.transports[this.preferred]!;
  }

  get running(): boolean {
    return this.run % 2 === 1;
  }

  start(): void {
    if (this.running) return;
    const id = ++this.run;
    void this.loop(id);
  }

  stop(): void {
    if (!this.running) return;
    this.run++;
    const c = this.current;
    this.current = undefined;
    c?.close();
    this.wake();
  }

  /** Ends a backoff wait early (the browser went back online). */
  wake(): void {
    this.wakeUp?.();
  }

  private async loop(id: number): Promise<void> {
    const live = () => id === this.run;
    while (live()) {
      const opened = await this.connect(live);
      if (!live()) {
        if ("conn" in opened) opened.conn.close();
        return;
      }
      let info: CloseInfo;
      if ("conn" in opened) {
        this.o.backoff.connected();
        info = await this.serve(live, opened.conn, opened.index);
        if (!live()) return;
        this.o.backoff.disconnected();
      } else {
        const e = opened.error;
        info = { code: e.code, reason: e.message, reconnect: !opened.fatal, error: e };
      }
      if (info.reconnect && expired(info)) {
        try {
          await this.o.refreshToken();
        } catch (err) {
          const e = asSwitchboardError(err);
          info = { code: info.code, reason: `token expired and not renewed: ${e.message}`, reconnect: false, error: e };
        }
        if (!live()) return;
      }
      if (!info.reconnect) this.run++; // stopped for good, before anyone hears of it
      this.o.onDisconnected(info);
      if (!info.reconnect) return;
      await this.sleep(this.o.backoff.next());
    }
  }

  private async connect(live: () => boolean): Promise<Opened> {
    try {
      await this.o.prepare();
    } catch (err) {
      return { error: asSwitchboardError(err), fatal: false };
    }
    const n = this.o.transports.length;
    let last: SwitchboardError = noAnswer("no transport");
    let renewed = false;
    for (let k = 0; k < n && live(); k++) {
      const i = (this.preferred + k) % n;
      const t = this.o.transports[i]!;
      this.o.onConnecting(t);
      try {
        const conn = await this.open(t);
        if (!live()) conn.close();
        else this.prefer(i);
        return { conn, index: i };
      } catch (err) {
        const e = asSwitchboardError(err);
        if (e.code === ErrorCode.NoAnswer) {
          last = e;
          continue;
        }
        if (e.code === ErrorCode.TokenExpired && !renewed) {
          try {
            await this.o.refreshToken();
          } catch (te) {
            return { error: asSwitchboardError(te), fatal: true };
          }
          renewed = true;
          k--; // the same transport again, with the fresh token
          continue;
        }
        return { error: e, fatal: !e.temporary };
      }
    }
    return { error: last, fatal: false };
  }

  /** Opens a transport up to its first frame, within openTimeout. */
  private open(t: TransportName): Promise<Connection> {
    const conn = this.o.create(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.close();
        reject(noAnswer(`${t} did not open within ${this.o.openTimeout}ms`));
      }, this.o.openTimeout);
      conn.open().then(
        () => {
          clearTimeout(timer);
          resolve(conn);
        },
        (err: unknown) => {
          clearTimeout(timer);
          conn.close();
          reject(err);
        },
      );
    });
  }

  /**
   * serve runs conn until it ends, switching to a better transport when one
   * opens meanwhile, and returns how the last connection ended.
   */
  private async serve(live: () => boolean, conn: Connection, index: number): Promise<CloseInfo> {
    for (;;) {
      this.current = conn;
      const served = conn;
      served.onClosed((info) => {
        // Not a connection the loop closed itself (stop, an upgrade).
        if (this.current !== served || !live()) return;
        this.current = undefined;
        this.o.onLost?.(info);
      });
      this.o.onConnected(conn);
      conn.start();
      const watch = this.watchUpgrade(live, index);
      const r = await Promise.race([conn.closed.then((info) => ({ info })), watch.better]);
      watch.cancel();
      if ("info" in r) {
        if (this.current === conn) this.current = undefined;
        // A better transport that opened in the same instant is not used.
        void watch.better.then((b) => b.conn.close());
        return r.info;
      }
      // The old connection goes quiet before the new one starts: the
      // positions it reached are where the new one resumes (it replays
      // from older ones, and what it repeats is dropped by offset).
      this.current = r.conn;
      conn.close();
      if (!live()) {
        this.current = undefined;
        r.conn.close();
        return r.conn.closed;
      }
      conn = r.conn;
      index = r.index;
      this.prefer(index);
    }
  }

  // watchUpgrade tries the transports better than index every
  // upgradeInterval; `better` resolves with the first that opens.
  private watchUpgrade(live: () => boolean, index: number): { better: Promise<{ conn: Connection; index: number }>; cancel(): void } {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const better = new Promise<{ conn: Connection; index: number }>((resolve) => {
      if (index === 0 || this.o.upgradeInterval < 0) return;
      const tick = async () => {
        for (let j = 0; j < index; j++) {
          if (cancelled || !live()) return;
          try {
            const conn = await this.open(this.o.transports[j]!);
            if (cancelled || !live()) {
              conn.close();
              return;
            }
            resolve({ conn, index: j });
            return;
          } catch {
            // Still blocked; try again next interval.
          }
        }
        if (!cancelled) timer = setTimeout(tick, this.o.upgradeInterval);
      };
      timer = setTimeout(tick, this.o.upgradeInterval);
    });
    return {
      better,
      cancel: () => {
        cancelled = true;
        clearTimeout(timer);
      },
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private prefer(i: number): void {
    this.preferred = i;
    try {
      this.o.storage?.setItem(this.o.storageKey, this.o.transports[i]!);
    } catch {
      // Storage full or disabled: remembering is an optimisation.
    }
  }

  private remembered(): string | null {
    try {
      return this.o.storage?.getItem(this.o.storageKey) ?? null;
    } catch {
      return null;
    }
  }
}

function expired(info: CloseInfo): boolean {
  return info.code === 3005 || info.error?.code === ErrorCode.TokenExpired;
}
