import type { Backoff } from "./backoff.js";
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
/** Connector runs the loop; start and stop may be called any number of times. */
export declare class Connector {
    private readonly o;
    private run;
    private preferred;
    private current;
    private wakeUp;
    constructor(o: ConnectorOptions);
    /** The open connection, if any. */
    get connection(): Connection | undefined;
    /** The transport the next attempt starts with. */
    get preferredTransport(): TransportName;
    get running(): boolean;
    start(): void;
    stop(): void;
    /** Ends a backoff wait early (the browser went back online). */
    wake(): void;
    private loop;
    private connect;
    /** Opens a transport up to its first frame, within openTimeout. */
    private open;
    /**
     * serve runs conn until it ends, switching to a better transport when one
     * opens meanwhile, and returns how the last connection ended.
     */
    private serve;
    private watchUpgrade;
    private sleep;
    private prefer;
    private remembered;
}
