import { type Command, type ServerFrame } from "../protocol.js";
import { type CloseInfo, type Connection, type ConnectionContext } from "./transport.js";
export declare class WebSocketConnection implements Connection {
    private readonly ctx;
    readonly transport: "websocket";
    client: string | undefined;
    private ws;
    private readonly signal;
    private nextId;
    private pending;
    private channels;
    private started;
    private disconnect;
    private watchdog;
    private silence;
    private openSettle;
    private refreshTimer;
    constructor(ctx: ConnectionContext);
    get closed(): Promise<CloseInfo>;
    onClosed(listener: (info: CloseInfo) => void): void;
    open(): Promise<void>;
    start(): void;
    /** Subscribes what the client has and the node does not, and the reverse. */
    sync(): void;
    close(): void;
    request(cmd: Command, timeout: number): Promise<ServerFrame>;
    private subscribe;
    private subscribed;
    private scheduleRefresh;
    private refreshThen;
    private receive;
    private reply;
    private alive;
    private fail;
    private socketClosed;
    /**
     * end is the one way out: it settles open (rejecting with err), rejects
     * what waits for a reply, closes the socket and resolves closed.
     */
    private end;
    private send;
}
/**
 * The expiry of a JWT in Unix ms, from its exp claim, or undefined for
 * anything that is not a JWT with a numeric exp. The token is not verified:
 * only the node can do that, and this only picks when to renew it.
 */
export declare function tokenExpiry(token: string | undefined): number | undefined;
