type Listener<T> = (event: T) => void;
/** Emits events of the map E: `on("message", (pub) => ...)`. */
export declare class Emitter<E extends object> {
    private listeners;
    /** Adds a listener; the function returned removes it. */
    on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void;
    /** Adds a listener for the next event only. */
    once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void;
    off<K extends keyof E>(event: K, listener: Listener<E[K]>): void;
    /**
     * Calls every listener of the event in the order they were added. A
     * listener that throws must not stop the others nor the SDK's own work
     * (a dropped publication would break the delivery guarantee), so its error
     * is rethrown on its own, where the platform reports uncaught errors.
     */
    protected emit<K extends keyof E>(event: K, value: E[K]): void;
}
export {};
