// The server's public API: JSON calls with the bearer token, and the event stream
// read with fetch (EventSource cannot send the Authorization header).

const TOKEN_KEY = "loom.studio.token";

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

export const token = {
  get: (): string => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value: string): void => {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const found = token.get();
  return found ? { ...extra, Authorization: `Bearer ${found}` } : extra;
}

async function failure(response: Response): Promise<ApiError> {
  let code = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      if (body.error.where) message += ` (${body.error.where})`;
    }
  } catch {
    /* not JSON */
  }
  if (response.status === 401) onUnauthorized();
  return new ApiError(response.status, code, message);
}

export async function api<T = any>(path: string, method = "GET", body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export interface StreamedEvent {
  id: number;
  type: string;
  data: any;
}

/** Reads the run's events after `after` until the server ends the stream; returns the
 * last id seen. A dropped connection throws (the caller reconnects from that id). */
export async function readEvents(
  runId: string, after: number, onEvent: (event: StreamedEvent) => void, signal: AbortSignal,
): Promise<number> {
  const response = await fetch(`/v1/runs/${encodeURIComponent(runId)}/events`, {
    headers: headers({ Accept: "text/event-stream", "Last-Event-ID": String(after) }),
    signal, cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  if (!response.body) throw new ApiError(0, "no_body", "the event stream has no body");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let last = after;
  let id = "";
  let type = "";
  let data: string[] = [];
  const dispatch = (): void => {
    if (data.length) {
      const seq = Number(id || last + 1);
      last = seq;
      onEvent({ id: seq, type: type || "message", data: JSON.parse(data.join("\n")) });
    }
    id = ""; type = ""; data = [];
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") { dispatch(); continue; }
      if (line.startsWith(":")) continue; // keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = text;
      else if (field === "event") type = text;
      else if (field === "data") data.push(text);
    }
  }
  dispatch();
  return last;
}
