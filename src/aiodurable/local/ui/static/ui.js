// aiodurable web UI: live refresh, timeline layout, operation details, actions.
// No framework and no build step; the server renders the HTML, this file enhances it.
"use strict";

(function () {
  const token = document.querySelector('meta[name="aiodurable-token"]').content;
  const REFRESH_MS = 1000;
  const FULL_EVERY = 5; // re-render even unchanged pages now and then: durations grow
  let selected = null; // id of the operation whose details are shown
  const toggled = new Map(); // operation id -> collapsed, as the user chose

  // -- rendering helpers -------------------------------------------------------------
  function place(root) {
    root.querySelectorAll("[data-left]").forEach((el) => {
      el.style.left = el.dataset.left + "%";
      if (el.dataset.width !== undefined) el.style.width = el.dataset.width + "%";
    });
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.title = el.textContent;
        el.textContent = when.toLocaleString();
      }
    });
  }

  function collapsedState(row) {
    if (toggled.has(row.dataset.op)) return toggled.get(row.dataset.op);
    return row.dataset.collapsed === "true";
  }

  function applyCollapse(root) {
    const rows = Array.from(root.querySelectorAll(".row.op"));
    const byId = new Map(rows.map((r) => [r.dataset.op, r]));
    for (const row of rows) {
      let hidden = false;
      for (let p = byId.get(row.dataset.parent); p; p = byId.get(p.dataset.parent)) {
        if (collapsedState(p)) { hidden = true; break; }
      }
      row.hidden = hidden;
      const toggle = row.querySelector(".toggle");
      if (toggle) toggle.textContent = collapsedState(row) ? "▸" : "▾";
    }
  }

  function select(root, id, scroll) {
    selected = id;
    root.querySelectorAll(".row.op").forEach((r) => r.classList.toggle("selected", r.dataset.op === id));
    let shown = false;
    root.querySelectorAll(".op-detail").forEach((d) => {
      d.hidden = d.dataset.op !== id;
      if (!d.hidden) shown = true;
    });
    const hint = root.querySelector(".details .hint");
    if (hint) hint.hidden = shown;
    if (shown && scroll) {
      const row = root.querySelector('.row.op[data-op="' + CSS.escape(id) + '"]');
      if (row) row.scrollIntoView({ block: "nearest" });
    }
  }

  function enhance(root) {
    place(root);
    localTimes(root);
    applyCollapse(root);
    if (selected) select(root, selected, false);
  }

  // -- live refresh ------------------------------------------------------------------
  const live = document.getElementById("live");
  const liveState = document.getElementById("live-state");
  let polls = 0;

  function editing() {
    const active = document.activeElement;
    if (active && live.contains(active) && active.matches("input, textarea, select")) return true;
    return live.querySelector("[data-dirty]") !== null;
  }

  async function refresh(force) {
    if (!live || (!force && editing())) return;
    const fragment = live.querySelector(".fragment");
    const url = new URL(live.dataset.src, location.href);
    polls += 1;
    if (!force && fragment && polls % FULL_EVERY !== 0) url.searchParams.set("since", fragment.dataset.version);
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
      liveState.classList.toggle("offline", !response.ok && response.status !== 204);
      if (response.status !== 200) return;
      const text = await response.text();
      if (!force && editing()) return;
      live.innerHTML = text;
      enhance(live);
    } catch (err) {
      liveState.classList.add("offline");
    }
  }

  // -- actions -----------------------------------------------------------------------
  async function act(form) {
    const error = form.querySelector(".form-error");
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const body = {};
    new FormData(form).forEach((value, key) => { body[key] = value; });
    if (form.dataset.callbackId) body.callback_id = form.dataset.callbackId;
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    if (error) error.textContent = "";
    try {
      const response = await fetch("/ui/api/" + form.dataset.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Aiodurable-Token": token },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        if (error) error.textContent = answer.message || response.statusText;
        return;
      }
      form.querySelectorAll("[data-dirty]").forEach((el) => { delete el.dataset.dirty; });
      if (answer.location) { location.href = answer.location; return; }
      if (document.activeElement) document.activeElement.blur();
      await refresh(true);
    } catch (err) {
      if (error) error.textContent = String(err);
    } finally {
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.action");
    if (!form) return;
    event.preventDefault();
    act(form);
  });

  document.addEventListener("input", (event) => {
    if (event.target.matches("input, textarea")) event.target.dataset.dirty = "true";
  });

  document.addEventListener("click", (event) => {
    const toggle = event.target.closest(".toggle");
    if (toggle) {
      const row = toggle.closest(".row.op");
      toggled.set(row.dataset.op, !collapsedState(row));
      applyCollapse(live);
      return;
    }
    const ref = event.target.closest(".op-ref[data-op]");
    if (ref) { select(live, ref.dataset.op, true); return; }
    const row = event.target.closest(".row.op");
    if (row) select(live, row.dataset.op, false);
  });

  document.addEventListener("keydown", (event) => {
    const row = event.target.closest && event.target.closest(".row.op");
    if (row && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(live, row.dataset.op, false);
    }
  });

  const filters = document.getElementById("filters");
  if (filters) filters.addEventListener("change", () => filters.submit());

  enhance(document);
  if (live) setInterval(() => refresh(false), REFRESH_MS);
})();
