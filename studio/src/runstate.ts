// What a run's events say: its spans (rebuilt as loom's trace reader does) and the
// state of every node and branch of the graph, by path.

export type NodeState = "idle" | "queued" | "running" | "waiting" | "done" | "failed" | "cancelled";

export interface Span {
  id: string;
  type: string;
  name: string;
  parent: string | null;
  start: number;
  end: number | null;
  status: string; // running, ok, error, waiting, cancelled
  path: string;
  componentType: string;
  flowPath: string; // the path of the flow execution the node belongs to
  first: any; // its start event
  last: any; // its end event, if any
  tokens: string;
}

const END_STATUS: Record<string, NodeState> = {
  ok: "done", error: "failed", waiting: "waiting", cancelled: "cancelled",
};

/** A graph path: map iterations (`upper[0]`) are the one subflow of the graph. */
export function graphPath(path: string[]): string {
  return path.map((part) => part.replace(/\[\d+\]$/, "")).join(" > ");
}

export class RunModel {
  spans = new Map<string, Span>();
  order: Span[] = [];
  events: any[] = [];
  private segment = 0;
  private active = new Map<string, number>();
  private last = new Map<string, string>();
  private activeFlows = new Map<string, number>();
  tokens = new Map<string, string>();
  errors = new Map<string, string>();
  lastNodeSpan = new Map<string, Span>();

  add(event: any): Span | null {
    this.events.push(event);
    const info = event.span;
    if (!info || !info.id) return null;
    if (info.parent_id === null && event.type === "FlowExecutionStart") this.segment += 1;
    const key = `${this.segment}:${info.id}`;
    let span = this.spans.get(key);
    const path = graphPath(event.path || []);
    if (!span) {
      const parent = info.parent_id ? `${this.segment}:${info.parent_id}` : null;
      const ref = event.node || event.flow || event.tool || event.llm_config || {};
      span = {
        id: key, type: info.type, name: info.name, parent, start: info.start_time,
        end: null, status: "running", path, componentType: ref.component_type || "",
        flowPath: parent ? (this.spans.get(parent)?.path ?? "") : "", first: event, last: null,
        tokens: "",
      };
      this.spans.set(key, span);
      this.order.push(span);
      this.begin(span);
    }
    if (event.type === "ExceptionRaised") {
      this.errors.set(path, `${event.exception_type || "error"}: ${event.exception_message || ""}`);
    } else if (event.type === "LlmGenerationChunkReceived") {
      this.tokens.set(path, (this.tokens.get(path) || "") + (event.content || ""));
    } else if (event.type === "LlmGenerationResponse" && typeof event.content === "string") {
      this.tokens.set(path, event.content);
    }
    if (info.end_time !== undefined && span.end === null) {
      span.end = info.end_time;
      span.status = info.status || event.status || "ok";
      span.last = event;
      this.finish(span);
    }
    return span;
  }

  private begin(span: Span): void {
    if (span.type === "NodeExecutionSpan") {
      this.active.set(span.path, (this.active.get(span.path) || 0) + 1);
      this.lastNodeSpan.set(span.path, span);
      if (span.componentType === "LlmNode") this.tokens.set(span.path, "");
    } else if (span.type === "FlowExecutionSpan") {
      this.activeFlows.set(span.path, (this.activeFlows.get(span.path) || 0) + 1);
    }
  }

  private finish(span: Span): void {
    const table = span.type === "NodeExecutionSpan" ? this.active
      : span.type === "FlowExecutionSpan" ? this.activeFlows : null;
    if (!table) return;
    table.set(span.path, Math.max(0, (table.get(span.path) || 0) - 1));
    this.last.set(span.path, span.status);
  }

  /** The state of a node (or of a flow or parallel box) of the graph, by path. */
  state(path: string, parentFlow: string | null): NodeState {
    if ((this.active.get(path) || 0) > 0 || (this.activeFlows.get(path) || 0) > 0) return "running";
    const last = this.last.get(path);
    if (last) return END_STATUS[last] || "done";
    if (parentFlow !== null && (this.activeFlows.get(parentFlow) || 0) > 0) return "queued";
    return "idle";
  }

  first(): number | null {
    return this.order.length ? this.order[0].start : null;
  }

  lastTime(): number {
    let found = 0;
    for (const span of this.order) found = Math.max(found, span.end ?? span.start);
    return found;
  }

  /** The events as the JSONL trace file `loom run --trace` writes (loom timeline reads it). */
  trace(): string {
    return this.events.map((event) => JSON.stringify(event)).join("\n") + (this.events.length ? "\n" : "");
  }
}
