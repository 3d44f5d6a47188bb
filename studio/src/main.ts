// The studio's shell: the token, the views (components, a component, runs, the inbox,
// a run) routed by the URL's hash so that a reload opens the same view again.

import { api, token, whenUnauthorized } from "./api";
import { clear, h } from "./dom";
import { inputsForm, showError } from "./forms";
import { drawGraph, graphUrl, type GraphData } from "./graph";
import { answerPanel, RunView } from "./runview";

const STATUSES = ["", "running", "waiting", "finished", "failed", "cancelled"];
const main = h("main", { id: "view" });
const inboxCount = h("span", { class: "badge", id: "inbox-count" }, "");
let current: { close: () => void } | null = null;
let poll = 0;

function shell(): void {
  const tokenButton = h("button", { type: "button", class: "token-button", onclick: () => askToken() }, "Token");
  document.body.append(
    h("header", {}, h("a", { href: "#/components", class: "brand" }, "loom studio"),
      h("nav", {}, h("a", { href: "#/components" }, "Components"), h("a", { href: "#/runs" }, "Runs"),
        h("a", { href: "#/inbox" }, "Inbox ", inboxCount)), tokenButton),
    main);
  whenUnauthorized(() => askToken("This server needs a token."));
  window.addEventListener("hashchange", route);
  route();
}

function askToken(reason = ""): void {
  if (document.getElementById("token-dialog")) return;
  const input = h("input", { type: "password", id: "token-input", autocomplete: "off", "aria-label": "token", value: token.get() });
  const dialog = h("dialog", { id: "token-dialog" },
    h("form", { method: "dialog" }, h("h3", {}, "Server token"), reason ? h("p", {}, reason) : null,
      h("p", { class: "muted" }, "Kept in this tab only (sessionStorage), sent as a bearer token."),
      input, h("div", { class: "row" }, h("button", { type: "submit", id: "token-save" }, "Use token"))));
  dialog.addEventListener("close", () => {
    token.set(input.value.trim());
    dialog.remove();
    route();
  });
  document.body.append(dialog);
  dialog.showModal();
}

function route(): void {
  current?.close();
  current = null;
  window.clearInterval(poll);
  const parts = (location.hash.replace(/^#\/?/, "") || "components").split("/").map(decodeURIComponent);
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", (link as HTMLAnchorElement).hash.split("/")[1] === parts[0]);
  void refreshInbox();
  if (parts[0] === "components" && parts[1]) void componentView(parts[1]);
  else if (parts[0] === "runs" && parts[1]) runView(parts[1]);
  else if (parts[0] === "runs") void runsView();
  else if (parts[0] === "inbox") void inboxView();
  else void componentsView();
}

async function load<T>(path: string): Promise<T | null> {
  try {
    return await api<T>(path);
  } catch (error) {
    clear(main, h("div", { class: "error", role: "alert" }, (error as Error).message));
    return null;
  }
}

async function refreshInbox(): Promise<void> {
  try {
    const page = await api<any>("/v1/runs?status=waiting&limit=500");
    inboxCount.textContent = page.data.length ? String(page.data.length) : "";
  } catch { inboxCount.textContent = ""; }
}

async function componentsView(): Promise<void> {
  const page = await load<any>("/v1/components");
  if (!page) return;
  clear(main, h("h2", {}, "Components"),
    h("ul", { class: "cards components" }, ...page.data.map((c: any) => h("li", {},
      h("a", { href: `#/components/${encodeURIComponent(c.id)}`, class: "component-link", "data-id": c.id },
        h("b", {}, c.id), h("span", { class: "muted" }, ` ${c.component_type} · ${c.name}`)),
      h("div", { class: "muted small" }, `inputs: ${Object.keys(c.inputs.properties || {}).join(", ") || "none"} → outputs: ${Object.keys(c.outputs.properties || {}).join(", ") || "none"}`)))));
}

async function componentView(id: string): Promise<void> {
  const page = await load<any>("/v1/components");
  const graph = await load<GraphData>(graphUrl(id));
  if (!page || !graph) return;
  const summary = page.data.find((c: any) => c.id === id);
  if (!summary) { clear(main, h("div", { class: "error" }, `no component ${id}`)); return; }
  const form = inputsForm(summary.inputs);
  const run = h("button", { type: "submit", class: "run-button" }, "Run");
  const box = h("form", { class: "run-form" }, h("h3", {}, "Inputs"), form.element, run);
  box.addEventListener("submit", async (event) => {
    event.preventDefault();
    run.disabled = true;
    try {
      const record = await api<any>(`/v1/components/${encodeURIComponent(id)}/runs`, "POST", { inputs: form.read() });
      location.hash = `#/runs/${encodeURIComponent(record.run_id)}`;
    } catch (error) { showError(box, (error as Error).message); run.disabled = false; }
  });
  clear(main, h("h2", {}, id, " ", h("span", { class: "muted" }, `${summary.component_type} · ${summary.name}`)),
    h("div", { class: "component" }, h("div", { class: "graph-box" }, drawGraph(graph, () => undefined).svg), box));
}

function runView(id: string): void {
  const view = new RunView(id);
  current = view;
  clear(main, view.element);
}

async function runsView(): Promise<void> {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const components = await load<any>("/v1/components");
  if (!components) return;
  const status = h("select", { id: "filter-status", "aria-label": "status" }, ...STATUSES.map((s) => h("option", { value: s }, s || "any status")));
  const component = h("select", { id: "filter-component", "aria-label": "component" }, h("option", { value: "" }, "any component"),
    ...components.data.map((c: any) => h("option", { value: c.id }, c.id)));
  status.value = params.get("status") || "";
  component.value = params.get("component") || "";
  const list = h("table", { class: "runs" });
  const more = h("button", { type: "button", class: "more" }, "More");
  let cursor: string | null = null;
  const fill = async (reset: boolean): Promise<void> => {
    const query = new URLSearchParams({ limit: "50" });
    if (status.value) query.set("status", status.value);
    if (component.value) query.set("component", component.value);
    if (!reset && cursor) query.set("cursor", cursor);
    try {
      const page = await api<any>(`/v1/runs?${query}`);
      if (reset) clear(list, h("tr", {}, h("th", {}, "run"), h("th", {}, "component"), h("th", {}, "status"), h("th", {}, "started")));
      for (const run of page.data) {
        list.append(h("tr", { class: "run-row", "data-run": run.run_id, "data-status": run.status, onclick: () => { location.hash = `#/runs/${encodeURIComponent(run.run_id)}`; } },
          h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.run_id)}` }, h("code", {}, run.run_id.slice(0, 12)))),
          h("td", {}, run.component || ""), h("td", {}, h("span", { class: `status status-${run.status}` }, run.status)),
          h("td", {}, run.created_at ? new Date(run.created_at * 1000).toLocaleString() : "")));
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) { showError(main, (error as Error).message); }
  };
  const changed = (): void => {
    const query = new URLSearchParams();
    if (status.value) query.set("status", status.value);
    if (component.value) query.set("component", component.value);
    history.replaceState(null, "", `#/runs${query.toString() ? "?" + query : ""}`);
    void fill(true);
  };
  status.addEventListener("change", changed);
  component.addEventListener("change", changed);
  more.addEventListener("click", () => void fill(false));
  clear(main, h("h2", {}, "Runs"), h("div", { class: "filters" }, status, component,
    h("button", { type: "button", onclick: () => void fill(true) }, "Refresh")), list, more);
  await fill(true);
}

async function inboxView(): Promise<void> {
  const box = h("div", { class: "inbox" });
  clear(main, h("h2", {}, "Inbox: runs waiting for someone"), box);
  const fill = async (): Promise<void> => {
    let page: any;
    try { page = await api<any>("/v1/runs?status=waiting&limit=100"); } catch (error) { showError(main, (error as Error).message); return; }
    const key = page.data.map((r: any) => r.run_id + ":" + (r.pending || []).map((p: any) => p.id).join(",")).join(";");
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    if (!page.data.length) { clear(box, h("p", { class: "muted" }, "No run is waiting.")); return; }
    clear(box, ...page.data.map((run: any) => h("div", { class: "inbox-run", "data-run": run.run_id },
      h("h3", {}, h("a", { href: `#/runs/${encodeURIComponent(run.run_id)}` }, run.component, " ", h("code", {}, run.run_id.slice(0, 12)))),
      answerPanel(run.run_id, run.pending || [], () => { void fill(); void refreshInbox(); }))));
  };
  await fill();
  poll = window.setInterval(() => void fill(), 3000);
}

shell();
