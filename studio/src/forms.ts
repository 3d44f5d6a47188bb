// Forms from JSON Schema: a component's inputs, and the answer of each pending request
// (text for an input, approve/deny for a confirmation, a client tool's declared outputs as
// fields, else a JSON editor for its result).

import { h } from "./dom";

export interface Field { read: () => unknown; element: HTMLElement; name: string }

export function schemaField(name: string, schema: any, required: boolean, prefix = "in"): Field {
  const id = `${prefix}-${name}`;
  const label = h("label", { for: id }, name, required ? h("span", { class: "req" }, " *") : null,
    schema.description ? h("small", {}, ` ${schema.description}`) : null);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  let control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
  let read: () => unknown;
  const fallback = schema.default;
  if (Array.isArray(schema.enum)) {
    const select = h("select", { id, name }, ...schema.enum.map((v: unknown) => h("option", { value: JSON.stringify(v) }, String(v))));
    if (fallback !== undefined) select.value = JSON.stringify(fallback);
    control = select;
    read = () => JSON.parse(select.value);
  } else if (type === "boolean") {
    const box = h("input", { id, name, type: "checkbox" });
    box.checked = fallback === true;
    control = box;
    read = () => box.checked;
  } else if (type === "integer" || type === "number") {
    const input = h("input", { id, name, type: "number", step: type === "integer" ? "1" : "any", value: fallback ?? "" });
    control = input;
    read = () => (input.value === "" ? undefined : Number(input.value));
  } else if (type === "string") {
    const area = h("textarea", { id, name, rows: 1, value: fallback ?? "" });
    control = area;
    read = () => area.value;
  } else { // objects, arrays, anything: JSON
    const area = h("textarea", { id, name, rows: 3, class: "json", spellcheck: "false", value: fallback === undefined ? "" : JSON.stringify(fallback, null, 2) });
    control = area;
    read = () => {
      if (!area.value.trim()) return undefined;
      try { return JSON.parse(area.value); } catch (error) { throw new Error(`${name}: not JSON (${(error as Error).message})`); }
    };
  }
  return { name, read, element: h("div", { class: "field" }, label, control) };
}

/** The form of a component's inputs; `read()` gives the inputs object (or throws). */
export function inputsForm(schema: any, prefix = "in"): { element: HTMLElement; read: () => Record<string, unknown> } {
  const required = new Set<string>(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, sub]) => schemaField(name, sub, required.has(name), prefix));
  const element = h("div", { class: "inputs" }, ...fields.map((f) => f.element));
  if (!fields.length) element.append(h("p", { class: "muted" }, "This component takes no inputs."));
  return {
    element,
    read: () => {
      const out: Record<string, unknown> = {};
      for (const field of fields) {
        const value = field.read();
        if (value !== undefined) out[field.name] = value;
      }
      return out;
    },
  };
}

export interface PendingForm { element: HTMLElement; read: () => unknown; id: string }

/** A form for one pending request, from its `answer_schema`. */
export function pendingForm(pending: any, onAnswer: (id: string, value: unknown) => void): PendingForm {
  const schema = pending.answer_schema || {};
  const where = h("div", { class: "pending-where" }, h("b", {}, pending.kind), " at ", h("code", {}, pending.node));
  const prompt = pending.prompt ? h("p", { class: "prompt" }, pending.prompt) : null;
  let body: HTMLElement;
  let read: () => unknown;
  const send = h("button", { type: "button", class: "answer-one" }, "Answer");
  if (schema.type === "boolean") {
    let choice: boolean | null = null;
    const approve = h("button", { type: "button", class: "approve" }, "Approve");
    const deny = h("button", { type: "button", class: "deny" }, "Deny");
    const pick = (value: boolean): void => {
      choice = value;
      approve.classList.toggle("chosen", value);
      deny.classList.toggle("chosen", !value);
    };
    approve.addEventListener("click", () => pick(true));
    deny.addEventListener("click", () => pick(false));
    body = h("div", { class: "confirm" }, approve, deny);
    read = () => choice ?? undefined;
  } else if (schema.type === "string") {
    const area = h("textarea", { rows: 2, class: "answer-text", "aria-label": `answer to ${pending.node}` });
    body = area;
    read = () => (area.value === "" ? undefined : area.value);
  } else if (pending.kind === "client_tool" && (schema.properties || Array.isArray(schema.anyOf))) {
    // Typed by the tool's outputs: several, an object of fields; one, its own field.
    const call = pending.tool_call;
    const args = call ? h("pre", { class: "tool-call" }, `${call.name}(${JSON.stringify(call.arguments ?? {})})`) : null;
    const prefix = `answer-${pending.id}`;
    if (schema.properties) {
      const form = inputsForm(schema, prefix);
      body = h("div", { class: "answer-fields" }, args, form.element);
      read = () => form.read();
    } else {
      const main = schema.anyOf[0];
      const field = schemaField(main.title || "result", main, true, prefix);
      body = h("div", { class: "answer-fields" }, args, field.element);
      read = () => field.read();
    }
  } else {
    const call = pending.tool_call;
    const area = h("textarea", { rows: 4, class: "json answer-json", spellcheck: "false", "aria-label": `result of ${call?.name || "the tool"}` });
    const note = h("small", { class: "muted" }, schema.description || "any JSON value");
    const args = call ? h("pre", { class: "tool-call" }, `${call.name}(${JSON.stringify(call.arguments ?? call.args ?? {})})`) : null;
    body = h("div", {}, args, area, note);
    read = () => {
      if (!area.value.trim()) return undefined;
      try { return JSON.parse(area.value); } catch (error) { throw new Error(`not JSON: ${(error as Error).message}`); }
    };
  }
  const element = h("div", { class: "pending", "data-request": pending.id }, where, prompt, body);
  {
    send.addEventListener("click", () => {
      try {
        const value = read();
        if (value === undefined) throw new Error("write an answer first");
        onAnswer(pending.id, value);
      } catch (error) { element.dataset.error = (error as Error).message; showError(element, (error as Error).message); }
    });
    element.append(send);
  }
  return { element, read, id: pending.id };
}

export function showError(where: HTMLElement, message: string): void {
  let box = where.querySelector(":scope > .error") as HTMLElement | null;
  if (!box) { box = h("div", { class: "error", role: "alert" }); where.append(box); }
  box.textContent = message;
}

export function clearError(where: HTMLElement): void {
  where.querySelector(":scope > .error")?.remove();
}
