// A small typed event emitter. The SDK has no runtime dependencies, and the
// platform's EventTarget would make every listener unwrap a CustomEvent.

type Listener<T> = (event: T) => void;

/** Emits events of the map E: `on("message", (pub) => ...)`. */
export class Emitter<E extends object> {
  private listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Adds a listener; the function returned removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener for the next event only. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (e) => {
      off();
      listener(e);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /**
   * Calls every listener of the event in the order they were added. A
   * listener that throws must not stop the others nor the SDK's own work
   * (a dropped publication would break the delivery guarantee), so its error
   * is rethrown on its own, where the platform reports uncaught errors.
   */
  protected emit<K extends keyof E>(event: K, value: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(value);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
