// What the demo pages share: which transports to use (from the page's
// ?transport= or the selector), and a status line that shows the client's
// state and the transport it is on. The pages load the SDK the node serves
// at /sdk/switchboard.js; nothing here is needed to use it.

export const TRANSPORTS = ["websocket", "sse", "longpoll", "poll"];

/** The transports the page should try: ?transport=sse forces one; none or "auto" lets the SDK choose. */
export function chosenTransports() {
  const t = new URLSearchParams(location.search).get("transport");
  return t && TRANSPORTS.includes(t) ? [t] : undefined;
}

/**
 * transportSelector fills a <select> with "auto" and the four transports, set
 * to the page's choice; picking another reloads the page with it.
 */
export function transportSelector(select) {
  const current = new URLSearchParams(location.search).get("transport") || "auto";
  for (const t of ["auto", ...TRANSPORTS]) {
    const o = document.createElement("option");
    o.value = t;
    o.textContent = t === "auto" ? "auto (WebSocket → SSE → long polling)" : t;
    o.selected = t === current;
    select.append(o);
  }
  select.addEventListener("change", () => {
    const q = new URLSearchParams(location.search);
    if (select.value === "auto") q.delete("transport");
    else q.set("transport", select.value);
    location.search = q.toString();
  });
}

/**
 * showStatus keeps a state element and a transport badge up to date with a
 * Switchboard client's connection events.
 */
export function showStatus(sb, stateEl, badgeEl) {
  const set = (state, transport) => {
    stateEl.textContent = state;
    stateEl.className = "state-" + state;
    badgeEl.textContent = transport || "–";
    badgeEl.dataset.transport = transport || "";
  };
  sb.on("connecting", (e) => set("connecting", e.transport));
  sb.on("connected", (e) => set("connected", e.transport));
  sb.on("disconnected", () => set("disconnected", ""));
  set(sb.state, sb.transport);
}

/** A short, readable time of day with milliseconds. */
export function clock(t = Date.now()) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
