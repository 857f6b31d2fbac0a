// Resolve and Replay on the Dead letters page. Everything shown comes back through textContent, never
// innerHTML; requests are same-origin JSON with the header the server requires of POSTs.
"use strict";

(() => {
  const root = document.body.dataset.root;
  const result = document.getElementById("result");
  const note = document.getElementById("note");
  const buttons = document.querySelectorAll("button[data-action]");

  function selectedIds() {
    const single = document.body.dataset.entryId;
    if (single) return [single];
    return Array.from(document.querySelectorAll("input.pick:checked"), (box) => box.value);
  }

  function say(text, kind, link) {
    result.textContent = text;
    result.className = kind;
    if (link) {
      const anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.target = "_top";
      anchor.className = "run-id";
      anchor.textContent = link.text;
      result.append(" ", anchor);
    }
  }

  async function post(path, body) {
    const response = await fetch(root + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-By": "dead-letters" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      throw new Error(`${response.status} ${detail || response.statusText}`);
    }
    return data;
  }

  function showStatus(ids, status) {
    for (const cell of document.querySelectorAll("[data-status-of]")) {
      if (ids.includes(cell.dataset.statusOf)) {
        cell.textContent = status;
        cell.className = `status status-${status}`;
      }
    }
  }

  const plural = (n) => `${n} entr${n === 1 ? "y" : "ies"}`;

  async function act(action) {
    const ids = selectedIds();
    if (ids.length === 0) {
      say("Select at least one entry first.", "error");
      return;
    }
    buttons.forEach((button) => { button.disabled = true; });
    say(action === "resolve" ? "Resolving…" : "Starting the replay…", "busy");
    try {
      if (action === "resolve") {
        const data = await post("/api/resolve", { entry_ids: ids, note: note.value || null });
        showStatus(data.entry_ids, data.status);
        say(`Resolved ${plural(data.entry_ids.length)}.`, "ok");
      } else {
        const data = await post("/api/replay", { entry_ids: ids });
        const paused = data.dag_paused ? ` The DAG ${data.dag_id} is paused: unpause it to run the replay.` : "";
        say(`Replaying ${plural(data.entry_ids.length)}.${paused} Run:`, "ok", {
          href: data.run_url,
          text: data.dag_run_id,
        });
      }
    } catch (error) {
      say(`Could not ${action}: ${error.message}`, "error");
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  }

  buttons.forEach((button) => button.addEventListener("click", () => act(button.dataset.action)));

  const all = document.getElementById("pick-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("input.pick").forEach((box) => { box.checked = all.checked; });
    });
  }
})();
