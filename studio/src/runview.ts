// One run, live or replayed: its graph coloured by state, the timeline, the node
// inspector, the pending forms, cancel and the trace download. The stream is read
// again after the last event id whenever it drops or the run goes on after a wait.

import { api, ApiError, readEvents } from "./api";
import { clear, duration, h, pretty } from "./dom";
import { clearError, pendingForm, showError, type PendingForm } from "./forms";
import { drawGraph, graphUrl, type Drawn, type GraphData } from "./graph";
import { RunModel } from "./runstate";
import { drawTimeline } from "./timeline";

const ENDED = ["finished", "failed", "cancelled"];

export class RunView {
  element = h("section", { class: "run" });
  private model = new RunModel();
  private record: any = null;
  private drawn: Drawn | null = null;
  private lastId = 0;
  private abort = new AbortController();
  private closed = false;
  private picked: string | null = null;
  private timer = 0;
  private frame = 0;
  private head = h("div", { class: "run-head" });
  private pendingBox = h("div", { class: "pending-box" });
  private notice = h("div", { class: "notice" });
  private graphBox = h("div", { class: "graph-box" });
  private timelineBox = h("div", { class: "timeline-box" });
  private inspector = h("aside", { class: "inspector" }, h("p", { class: "muted" }, "Pick a node to see its inputs, outputs, error and duration."));
  private resultBox = h("div", { class: "result" });
  private connection = h("span", { class: "conn", "data-conn": "connecting" }, "connecting");
  private shownPending = "";

  constructor(private runId: string) {
    this.element.append(this.head, this.notice, this.pendingBox,
      h("div", { class: "run-body" }, h("div", { class: "run-main" }, this.graphBox, legend(), h("h3", {}, "Timeline"), this.timelineBox), this.inspector),
      this.resultBox);
    void this.start();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    window.clearInterval(this.timer);
  }

  private async start(): Promise<void> {
    try {
      this.record = await api(`/v1/runs/${encodeURIComponent(this.runId)}`);
      this.renderHead();
      if (this.record.component) {
        const graph = await api<GraphData>(graphUrl(this.record.component));
        this.drawn = drawGraph(graph, (path) => { this.picked = path; this.renderInspector(); });
        clear(this.graphBox, this.drawn.svg);
      }
    } catch (error) {
      clear(this.head, h("div", { class: "error", role: "alert" }, (error as Error).message));
      return;
    }
    this.timer = window.setInterval(() => this.tick(), 250);
    await this.follow();
  }

  /** Read the stream until the run has ended; reconnect after a drop or a resume. */
  private async follow(): Promise<void> {
    let backoff = 250;
    while (!this.closed) {
      try {
        this.setConn("live");
        this.lastId = await readEvents(this.runId, this.lastId, (event) => this.onEvent(event.id, event.data), this.abort.signal);
        backoff = 250;
        this.record = await api(`/v1/runs/${encodeURIComponent(this.runId)}`);
        this.renderAll();
        if (ENDED.includes(this.record.status)) { this.setConn("ended"); return; }
        if (this.record.status === "waiting") { this.setConn("waiting"); return; }
        await sleep(150); // running: the stream ended at a wait that was answered already
      } catch (error) {
        if (this.closed) return;
        if (error instanceof ApiError && error.status !== 0 && error.status < 500) {
          this.setConn("error");
          showError(this.head, error.message);
          return;
        }
        this.setConn("reconnecting");
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 4000);
      }
    }
  }

  private setConn(state: string): void {
    this.connection.dataset.conn = state;
    this.connection.textContent = state;
    this.element.dataset.conn = state;
  }

  private onEvent(id: number, data: any): void {
    this.lastId = Math.max(this.lastId, id);
    this.model.add(data);
    this.element.dataset.events = String(this.model.events.length);
    if (data.type === "LlmGenerationChunkReceived") this.element.dataset.tokens = String(Number(this.element.dataset.tokens || 0) + 1);
    if (this.record && this.record.status !== "running" && data.type === "FlowExecutionStart" && data.span?.parent_id === null) {
      if (!ENDED.includes(this.record.status)) this.record.status = "running";
    }
    this.paintStates();
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.renderTimeline(); });
  }

  private tick(): void {
    this.paintStates();
    this.renderTimeline();
  }

  private paintStates(): void {
    if (!this.drawn) return;
    for (const [path, item] of this.drawn.items) {
      const state = this.stateOf(path, item.flow, item.kind);
      if (item.element.dataset.state !== state) item.element.dataset.state = state;
      const tokens = this.drawn.tokens.get(path);
      const text = this.model.tokens.get(path);
      if (tokens && text !== undefined) {
        const tail = text.replace(/\s+/g, " ").slice(-34);
        if (tokens.textContent !== tail) tokens.textContent = tail;
      }
    }
    if (this.picked) this.renderInspector();
  }

  /** Start and end nodes send no events of their own: they follow their flow. */
  private stateOf(path: string, flow: string | null, kind: string): string {
    const state = this.model.state(path, flow);
    if ((kind !== "start" && kind !== "end") || flow === null) return state;
    const flowState = this.model.state(flow, null);
    if (flowState === "idle" || flowState === "queued") return flowState;
    if (kind === "start" || flowState === "done") return "done";
    return flowState === "failed" || flowState === "cancelled" ? flowState : "idle";
  }

  private renderTimeline(): void {
    const live = this.record?.status === "running";
    const now = live || this.record?.status === "waiting" ? Date.now() * 1e6 : this.model.lastTime();
    clear(this.timelineBox, this.model.order.length ? drawTimeline(this.model, now, live, this.record?.status === "waiting") : h("p", { class: "muted" }, "No node has run yet."));
  }

  private renderAll(): void {
    this.renderHead();
    this.renderPending();
    this.renderResult();
    this.paintStates();
    this.renderTimeline();
  }

  private renderHead(): void {
    const record = this.record;
    const cancel = h("button", { type: "button", class: "cancel", onclick: () => void this.cancel() }, "Cancel run");
    const download = h("button", { type: "button", class: "download", onclick: () => this.download() }, "Download trace");
    if (ENDED.includes(record.status)) cancel.disabled = true;
    clear(this.head,
      h("h2", {}, record.component || "run", " ", h("span", { class: `status status-${record.status}`, "data-status": record.status }, record.status)),
      h("div", { class: "run-meta" }, h("code", { class: "run-id" }, record.run_id), this.connection),
      h("div", { class: "run-actions" }, cancel, download));
    this.element.dataset.status = record.status;
  }

  private renderPending(): void {
    const pending = this.record.status === "waiting" ? this.record.pending || [] : [];
    const key = pending.map((p: any) => p.id).join(",");
    if (key === this.shownPending) return;
    this.shownPending = key;
    if (!pending.length) { clear(this.pendingBox); return; }
    this.pendingBox.replaceChildren(answerPanel(this.runId, pending, () => { clear(this.notice); void this.resumed(); },
      (message) => {
        clear(this.notice, h("div", { class: "error", role: "alert" }, `${message}: the run has moved on, here it is again.`));
        void this.resumed();
      }));
  }

  private async resumed(): Promise<void> {
    this.record = await api(`/v1/runs/${encodeURIComponent(this.runId)}`);
    this.renderAll();
    if (this.element.dataset.conn !== "live") await this.follow(); // the events since the wait
  }

  private renderResult(): void {
    const record = this.record;
    if (!ENDED.includes(record.status)) { clear(this.resultBox); return; }
    const last = [...(record.messages || [])].reverse().find((m: any) => m.role === "assistant");
    clear(this.resultBox,
      h("h3", {}, "Result"),
      record.error ? h("div", { class: "error run-error", role: "alert" }, `${record.error.node ? record.error.node + ": " : ""}${record.error.message}`) : null,
      last ? h("div", { class: "final-message" }, h("b", {}, "Last message: "), String(last.content)) : null,
      h("pre", { class: "outputs" }, pretty(record.outputs || {})));
  }

  private renderInspector(): void {
    const path = this.picked!;
    const span = this.model.lastNodeSpan.get(path) || [...this.model.order].reverse().find((s) => s.path === path);
    const item = this.drawn?.items.get(path);
    const state = item ? this.stateOf(path, item.flow, item.kind) : "idle";
    const parts: (HTMLElement | null)[] = [h("h3", {}, path.split(" > ").pop() || path), h("p", {}, h("code", {}, path)), h("p", {}, "state: ", h("b", { class: `state-${state}` }, state))];
    if (span) {
      const end = span.end ?? (this.record?.status === "running" ? Date.now() * 1e6 : null);
      parts.push(h("p", {}, `${span.componentType || span.type}`, end ? ` · ${duration(end - span.start)}` : ""));
      const start = span.first || {};
      const last = span.last || {};
      parts.push(section("Inputs", start.inputs));
      if (last.outputs !== undefined && last.outputs !== null) parts.push(section("Outputs", last.outputs));
      const error = span.status === "error" ? this.model.errors.get(path) ?? last.error_type ?? "failed" : undefined;
      if (error !== undefined) parts.push(h("div", { class: "error" }, h("b", {}, "Error: "), pretty(error)));
      const tokens = this.model.tokens.get(path);
      if (tokens) parts.push(section("LLM text", tokens));
    } else {
      parts.push(h("p", { class: "muted" }, "Not run (yet)."));
    }
    const key = JSON.stringify([path, span?.end, span?.status, this.model.tokens.get(path)?.length]);
    if (this.inspector.dataset.key === key) return;
    this.inspector.dataset.key = key;
    this.inspector.dataset.path = path;
    clear(this.inspector, ...parts);
  }

  private async cancel(): Promise<void> {
    try {
      this.record = await api(`/v1/runs/${encodeURIComponent(this.runId)}/cancel`, "POST");
      this.renderAll();
    } catch (error) { showError(this.head, (error as Error).message); }
  }

  private download(): void {
    const blob = new Blob([this.model.trace()], { type: "application/x-ndjson" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `${this.runId}.jsonl` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
}

function section(title: string, value: unknown): HTMLElement {
  const masked = typeof value === "string" && value.includes("** masked **");
  return h("div", { class: "section" }, h("h4", {}, title), h("pre", {}, value === undefined ? "—" : pretty(value)),
    masked ? h("small", { class: "muted" }, "masked by the server") : null);
}

function legend(): HTMLElement {
  const states = ["queued", "running", "waiting", "done", "failed", "cancelled"];
  return h("div", { class: "legend" }, ...states.map((state) => h("span", { class: `swatch state-${state}` }, state)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The forms of a waiting run's pending requests: each answered alone, or all at once.
 * A 409 means someone else answered (or the run moved on) since the forms were drawn:
 * `stale` then reloads the run, since these forms can no longer be sent. */
export function answerPanel(runId: string, pending: any[], done: () => void,
  stale?: (message: string) => void): HTMLElement {
  const panel = h("div", { class: "answers", "data-run": runId });
  const forms: PendingForm[] = [];
  const send = async (answers: Record<string, unknown>): Promise<void> => {
    clearError(panel);
    try {
      await api(`/v1/runs/${encodeURIComponent(runId)}/answers`, "POST", { answers });
      for (const id of Object.keys(answers)) panel.querySelector(`[data-request="${id}"]`)?.classList.add("answered");
      done();
    } catch (error) {
      if (stale && error instanceof ApiError && error.status === 409) stale(error.message);
      else showError(panel, (error as Error).message);
    }
  };
  for (const item of pending) {
    const form = pendingForm(item, (id, value) => void send({ [id]: value }));
    forms.push(form);
  }
  const all = h("button", { type: "button", class: "answer-all" }, `Answer all (${pending.length})`);
  all.addEventListener("click", () => {
    const answers: Record<string, unknown> = {};
    try {
      for (const form of forms) {
        const value = form.read();
        if (value !== undefined) answers[form.id] = value;
      }
      if (!Object.keys(answers).length) throw new Error("write at least one answer first");
    } catch (error) { showError(panel, (error as Error).message); return; }
    void send(answers);
  });
  panel.append(h("h3", {}, `Waiting for ${pending.length} answer${pending.length > 1 ? "s" : ""}`), ...forms.map((f) => f.element), pending.length > 1 ? all : "");
  return panel;
}
