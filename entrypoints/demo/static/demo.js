"use strict";
// The demo page: sends POST /one from a form (fields or raw JSON), shows the API's validation
// errors next to the field they name, polls /demo/requests for the table, and sets /demo/faults.

(function () {
  const POLL_MS = 1000;
  const EXAMPLE = { user_id: "user-1", prompt: "hello", data: [{ key: "k", value: "v" }] };

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  // ---- the request form ----------------------------------------------------------------------
  const form = $("#request-form");
  const itemsList = $("#data-items");
  const jsonBody = $("#json-body");
  const sendResult = $("#send-result");

  function mode() {
    return $('input[name="mode"]:checked', form).value;
  }

  function addItem(key, value) {
    const item = $("#data-item-template").content.firstElementChild.cloneNode(true);
    itemsList.appendChild(item);
    const inputs = $$("input", item);
    inputs[0].value = key;
    inputs[1].value = value;
    renumberItems();
    return item;
  }

  function renumberItems() {
    $$(".data-item", itemsList).forEach((item, index) => {
      ["key", "value"].forEach((part, which) => {
        const field = $$(".field", item)[which];
        const input = $("input", field);
        const error = $(".field-error", field);
        const path = `data[${index}].${part}`;
        input.id = `data-${index}-${part}`;
        input.dataset.field = path;
        input.setAttribute("aria-describedby", `error-data-${index}-${part}`);
        error.id = `error-data-${index}-${part}`;
        error.dataset.errorFor = path;
        const label = $("label", field);
        label.htmlFor = input.id;
        label.textContent = `Item ${index + 1} ${part}`;
      });
      $(".remove", item).setAttribute("aria-label", `Remove item ${index + 1}`);
    });
  }

  function bodyFromFields() {
    return {
      user_id: $("#user_id").value,
      prompt: $("#prompt").value,
      data: $$(".data-item", itemsList).map((item) => {
        const inputs = $$("input", item);
        return { key: inputs[0].value, value: inputs[1].value };
      }),
    };
  }

  // Whether the fields can show `body` exactly: an object of strings in the shape of the example.
  function fitsFields(body) {
    if (body === null || typeof body !== "object" || Array.isArray(body)) return false;
    const known = ["user_id", "prompt", "data"];
    if (Object.keys(body).some((key) => !known.includes(key))) return false;
    if (typeof body.user_id !== "string" || typeof (body.prompt ?? "") !== "string") return false;
    const data = body.data ?? [];
    return Array.isArray(data) && data.every((item) =>
      item !== null && typeof item === "object" && !Array.isArray(item) &&
      Object.keys(item).length === 2 && typeof item.key === "string" && typeof item.value === "string");
  }

  function fillFields(body) {
    $("#user_id").value = body.user_id;
    $("#prompt").value = body.prompt ?? "";
    itemsList.replaceChildren();
    (body.data ?? []).forEach((item) => addItem(item.key, item.value));
  }

  function showMode(chosen) {
    $("#fields-editor").hidden = chosen !== "fields";
    $("#json-editor").hidden = chosen !== "json";
  }

  function switchMode(event) {
    clearErrors();
    if (event.target.value === "json") {
      jsonBody.value = JSON.stringify(bodyFromFields(), null, 2);
      showMode("json");
      return;
    }
    let body;
    try {
      body = JSON.parse(jsonBody.value);
    } catch (error) {
      return keepJson(`The body is not valid JSON (${error.message}); fix it to edit it as fields.`);
    }
    if (!fitsFields(body)) {
      return keepJson("This body has parts the fields cannot show; send it as JSON.");
    }
    fillFields(body);
    showMode("fields");
  }

  function keepJson(message) {
    $('input[name="mode"][value="json"]', form).checked = true;
    showMode("json");
    setError($("#error-json"), message, jsonBody);
  }

  function clearErrors() {
    $$(".field-error", form).forEach((element) => { element.textContent = ""; });
    $$("[aria-invalid]", form).forEach((element) => element.removeAttribute("aria-invalid"));
  }

  function setError(element, message, input) {
    element.textContent = message;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  // The API names the offending part as a JSON path ("user_id", "data[2].key", "body").
  function showFieldError(path, message) {
    if (mode() === "json") {
      return setError($("#error-json"), path ? `${path}: ${message}` : message, jsonBody);
    }
    const input = path && $(`[data-field="${CSS.escape(path)}"]`, form);
    if (input) return setError($(`[data-error-for="${CSS.escape(path)}"]`, form), message, input);
    const item = /^data\[(\d+)\]/.exec(path || "");
    const row = item && $$(".data-item", itemsList)[Number(item[1])];
    if (row) return setError($(".field-error", row), message, $("input", row));
    if (path === "data") return setError($("#error-data"), message, $("#add-item"));
    setError($("#error-form"), path ? `${path}: ${message}` : message, $("#send"));
  }

  // With authentication on (`cruncan demo --auth`), the demo's stand-in issuer signs a token for the page.
  async function pageToken() {
    const response = await fetch("/demo/token", { cache: "no-store" });
    return (await response.json()).token;
  }

  async function send(event) {
    event.preventDefault();
    clearErrors();
    sendResult.textContent = "Sending…";
    const body = mode() === "json" ? jsonBody.value : JSON.stringify(bodyFromFields());
    let response;
    let answer;
    try {
      const headers = { "Content-Type": "application/json" };
      const token = await pageToken();
      if (token) headers.Authorization = `Bearer ${token}`;
      response = await fetch("/one", { method: "POST", headers, body });
      answer = await response.json();
    } catch (error) {
      sendResult.textContent = "";
      return showFieldError(null, `The API did not answer: ${error.message}`);
    }
    if (response.status === 201) {
      sendResult.textContent = `Accepted as request ${answer.request_id}. Watch it below.`;
      poll();
      return;
    }
    sendResult.textContent = `The API answered ${response.status} (${answer.error || "error"}).`;
    showFieldError(answer.field || null, answer.detail || answer.error || "the request failed");
  }

  // ---- the faults form -----------------------------------------------------------------------
  const faultsForm = $("#faults-form");
  const faultsResult = $("#faults-result");

  function showFaults(faults) {
    $("#unavailable_share").value = Math.round(faults.unavailable_share * 100);
    $("#delay_ms").value = faults.delay_ms;
    $("#reject").checked = faults.reject;
    const active = [];
    if (faults.reject) active.push("every request rejected with 400");
    if (faults.unavailable_share > 0) active.push(`${Math.round(faults.unavailable_share * 100)}% answered 503`);
    if (faults.delay_ms > 0) active.push(`${faults.delay_ms} ms delay`);
    faultsResult.textContent = `In force: ${active.length ? active.join(", ") : "none, the third party accepts everything"}.`;
  }

  // A number when the input holds one; otherwise what was typed, for the server to refuse.
  function numberOrText(value, scale) {
    const trimmed = value.trim();
    return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) * scale : trimmed;
  }

  async function applyFaults(event) {
    event.preventDefault();
    $$(".field-error", faultsForm).forEach((element) => { element.textContent = ""; });
    $$("[aria-invalid]", faultsForm).forEach((element) => element.removeAttribute("aria-invalid"));
    const share = numberOrText($("#unavailable_share").value, 0.01);
    const wanted = {
      unavailable_share: typeof share === "number" ? Math.round(share * 10000) / 10000 : share,
      delay_ms: numberOrText($("#delay_ms").value, 1),
      reject: $("#reject").checked,
    };
    try {
      const response = await fetch("/demo/faults", {
        method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(wanted),
      });
      const answer = await response.json();
      if (response.ok) return showFaults(answer);
      const input = answer.field && $(`#${CSS.escape(answer.field)}`, faultsForm);
      const error = answer.field && $(`[data-error-for="${CSS.escape(answer.field)}"]`, faultsForm);
      if (input && error) return setError(error, answer.detail, input);
      faultsResult.textContent = answer.detail || answer.error;
    } catch (error) {
      faultsResult.textContent = `The demo did not answer: ${error.message}`;
    }
  }

  async function loadFaults() {
    try {
      const response = await fetch("/demo/faults");
      if (response.ok) showFaults(await response.json());
    } catch (error) {
      faultsResult.textContent = `The demo did not answer: ${error.message}`;
    }
  }

  // ---- the table of recent requests ----------------------------------------------------------
  const tableBody = $("#requests-body");
  const announcer = $("#requests-announcer");
  const requestsError = $("#requests-error");
  const seen = new Map();

  function cell(label, ...children) {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.append(...children);
    return td;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function ms(value) {
    return value === null || value === undefined ? "–" : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
  }

  function stepList(row) {
    const list = element("ol", undefined, "steps");
    row.steps.forEach((step) => {
      const name = step.step === "finished" ? row.status : step.step;
      list.append(element("li", `${name} ${ms(step.ms)}`));
    });
    if (!row.steps.length) list.append(element("li", "accepted"));
    return list;
  }

  function callList(calls) {
    if (!calls.length) return element("span", "none yet", "muted");
    const list = element("ol", undefined, "calls");
    calls.forEach((call) => {
      const item = element("li");
      const status = element("span", String(call.status ?? "no answer"), `code code-${String(call.status ?? "none")[0]}`);
      item.append(element("span", `+${ms(call.at_ms)} `, "muted"), `${call.method} ${call.target} `, status);
      list.append(item);
    });
    return list;
  }

  let shown = "";
  // Rebuilds the rows only when something changed, so that a reader's place is kept between polls.
  function render(rows) {
    const fingerprint = JSON.stringify(rows);
    if (!rows.length || fingerprint === shown) return;
    shown = fingerprint;
    const fresh = rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.requestId = row.request_id;
      tr.dataset.status = row.status;
      const id = element("code", row.request_id);
      const when = element("span", `${new Date(row.created_at).toLocaleTimeString()} · ${row.user_id}`, "muted");
      const status = element("span", row.status, `status status-${row.status}`);
      const statusCell = cell("Status", status);
      if (row.failure_reason) statusCell.append(element("p", row.failure_reason, "reason"));
      tr.append(
        cell("Request", id, element("br"), when),
        statusCell,
        cell("Steps", stepList(row)),
        cell("Calls", callList(row.calls)),
        cell("Trace ID", row.trace_id ? element("code", row.trace_id, "trace") : element("span", "not traced", "muted")),
      );
      return tr;
    });
    tableBody.replaceChildren(...fresh);
  }

  function announce(rows) {
    const changes = [];
    rows.forEach((row) => {
      const before = seen.get(row.request_id);
      if (before !== undefined && before !== row.status) changes.push(`request ${row.request_id} ${row.status}`);
      seen.set(row.request_id, row.status);
    });
    if (changes.length) announcer.textContent = `${changes.join("; ")}.`;
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const response = await fetch("/demo/requests?limit=20");
      if (!response.ok) throw new Error(`answered ${response.status}`);
      const rows = (await response.json()).requests;
      requestsError.textContent = "";
      render(rows);
      announce(rows);
    } catch (error) {
      requestsError.textContent = `Could not load the recent requests: ${error.message}`;
    } finally {
      polling = false;
    }
  }

  // ---- start ---------------------------------------------------------------------------------
  function start() {
    fillFields(EXAMPLE);
    jsonBody.value = JSON.stringify(EXAMPLE, null, 2);
    $$('input[name="mode"]', form).forEach((radio) => radio.addEventListener("change", switchMode));
    $("#add-item").addEventListener("click", () => $("input", addItem("", "")).focus());
    itemsList.addEventListener("click", (event) => {
      const remove = event.target.closest(".remove");
      if (!remove) return;
      const items = $$(".data-item", itemsList);
      const index = items.indexOf(remove.closest(".data-item"));
      items[index].remove();
      renumberItems();
      const next = $$(".data-item", itemsList)[Math.min(index, items.length - 2)];
      (next ? $(".remove", next) : $("#add-item")).focus();
    });
    form.addEventListener("submit", send);
    faultsForm.addEventListener("submit", applyFaults);
    loadFaults();
    poll();
    window.setInterval(poll, POLL_MS);
  }

  start();
})();
