// The game day's consoles (team and facilitator): plain JS, no build step.
// Everything a person typed reaches the page as text (textContent / text nodes), never as markup.
// Links come from alert annotations: only http(s) and the console's own /runbooks/ are followed.
"use strict";

(() => {
  const mode = document.body.dataset.console; // "team" | "facilitator"
  const team = mode === "team";
  const store = team ? window.localStorage : window.sessionStorage;
  const KEY = "crashlab-gameday-" + mode;
  const $ = (id) => document.getElementById(id);

  let auth = null; // {token, name?, role?}
  let state = null;
  let source = null;
  let clockSkewMs = 0;

  const ROLE = {
    incident_commander: "incident commander",
    on_call: "on-call",
    scribe: "scribe",
    observer: "observer",
  };

  // --- DOM helpers -----------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child)); // strings become text nodes
    }
    return node;
  }

  function safeHref(url) {
    if (!url) return null;
    try {
      const parsed = new URL(url, window.location.href);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.href;
    } catch (_) {
      /* not a URL */
    }
    return null;
  }

  function linkTo(url, text) {
    const href = safeHref(url);
    return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text }) : null;
  }

  function hms(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleTimeString([], { hour12: false });
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
    if (message) window.setTimeout(() => { if (box.textContent === message) box.hidden = true; }, 8000);
  }

  function setList(node, items) {
    node.replaceChildren(...items);
    const empty = document.querySelector(`[data-empty-for="${node.id}"]`);
    if (empty) empty.hidden = items.length > 0;
  }

  // --- the API ---------------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + (auth ? auth.token : "") };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function act(method, path, body) {
    return api(method, path, body).catch((error) => {
      showError(error.message);
      throw error;
    });
  }

  // --- the pager's sound (after a click: browsers allow sound once the page had a gesture) -----------
  let audio = null;
  function unlockAudio() {
    try {
      if (!audio) {
        audio = new (window.AudioContext || window.webkitAudioContext)();
        audio.addEventListener("statechange", () => { document.body.dataset.sound = audio.state; });
      }
      if (audio.state === "suspended") audio.resume();
      document.body.dataset.sound = audio.state; // "running" once the browser lets the pager beep
    } catch (_) {
      audio = null;
    }
  }
  document.addEventListener("click", unlockAudio, { capture: true });
  document.addEventListener("keydown", unlockAudio, { capture: true });

  function beep() {
    if (!audio || audio.state !== "running") return;
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
    for (const [offset, freq] of [[0, 880], [0.25, 660]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + offset);
      osc.stop(audio.currentTime + offset + 0.18);
    }
  }

  let ringTimer = null;
  const baseTitle = document.title;
  function ring(pages) {
    const ringer = $("ringer");
    const ringing = pages.filter((p) => p.ringing);
    document.body.classList.toggle("ringing", ringing.length > 0);
    ringer.hidden = ringing.length === 0;
    if (ringing.length) {
      $("ringer-text").textContent = ringing.map((p) => p.alert + (p.summary ? ": " + p.summary : "")).join(" · ");
      const ack = $("ringer-ack");
      ack.hidden = !team;
      ack.dataset.page = ringing[0].page_id;
      if (!ringTimer) {
        beep();
        ringTimer = window.setInterval(() => {
          beep();
          document.title = document.title === baseTitle ? "PAGE: " + ringing[0].alert : baseTitle;
        }, 2000);
      }
    } else if (ringTimer) {
      window.clearInterval(ringTimer);
      ringTimer = null;
      document.title = baseTitle;
    }
  }

  // --- rendering -------------------------------------------------------------------------------------
  function renderPages(pages) {
    setList($("pages"), pages.slice().reverse().map((p) => {
      const links = el("span", { class: "links" },
        linkTo(p.runbook_url, "runbook"), " ", linkTo(p.graph_url, "graph"));
      let ackPart;
      if (p.acked_by) ackPart = el("span", { class: "acked", text: `acked by ${p.acked_by} at ${hms(p.acked_at)}` });
      else if (team && p.status === "firing") {
        ackPart = el("button", { type: "button", class: "ack", "data-page": p.page_id, text: "Ack" });
      } else ackPart = el("span", { class: "unacked", text: p.status === "firing" ? "not acked" : "resolved, not acked" });
      return el("li", { class: `page ${p.status}${p.ringing ? " ring" : ""}`, "data-page-id": p.page_id },
        el("span", { class: "sev", text: p.severity || "page" }), " ",
        el("strong", { class: "alert-name", text: p.alert }), " ",
        el("span", { class: "status", text: p.status }), " ",
        el("span", { class: "since", text: `fired ${hms(p.starts_at)}, paged ${hms(p.delivered_at)}` }),
        p.summary ? el("div", { class: "summary", text: p.summary }) : null,
        el("div", { class: "page-foot" }, links, " ", ackPart));
    }));
  }

  function renderIncident(incident, members) {
    const status = $("incident-status");
    if (!incident) status.textContent = "No incident declared.";
    else if (incident.resolved_at && !incident.severity) {
      status.textContent = `Resolved at ${hms(incident.resolved_at)} by ${incident.resolved_by}: ${incident.summary || ""}`;
    } else {
      status.textContent = `${incident.severity} declared at ${hms(incident.declared_at)} by ${incident.declared_by}; IC ${incident.ic}` +
        (incident.resolved_at ? ` · resolved at ${hms(incident.resolved_at)} by ${incident.resolved_by}: ${incident.summary || ""}` : "");
    }
    const select = $("ic-select");
    if (select) {
      const current = select.value || (auth && auth.name) || "";
      select.replaceChildren(...members.map((m) => el("option", { value: m.name, text: `${m.name} (${ROLE[m.role] || m.role})` })));
      if (members.some((m) => m.name === current)) select.value = current;
      else if (incident && members.some((m) => m.name === incident.ic)) select.value = incident.ic;
    }
  }

  function describe(entry) {
    const who = entry.actor || "";
    switch (entry.event) {
      case "joined": return `${who} joined as ${ROLE[entry.role] || entry.role}`;
      case "page": return `page ${entry.alert} (${entry.severity}) ${entry.status}`;
      case "ack": return `${who} acked ${entry.alert}`;
      case "declare": return `${who} declared ${entry.severity}, IC ${entry.ic}`;
      case "note": {
        if (entry.kind === "drop") {
          const dropped = state && state.timeline.find((e) => e.event === "note" && e.note_id === entry.ref);
          return `${who} dropped the hypothesis "${dropped ? dropped.text : entry.ref}": ${entry.text}`;
        }
        return `${who} [${entry.kind}] ${entry.text}`;
      }
      case "action": {
        if (entry.action === "unavailable") return `${who} needed an action we don't have: ${(entry.params || {}).wanted}`;
        const what = entry.action === "undo" ? `undo of ${entry.undo_of}` : `${entry.action} ${JSON.stringify(entry.params || {})}`;
        return `${who} ${what}: ${entry.result}${entry.error ? " (" + entry.error + ")" : ""}`;
      }
      case "hint": return `hint from the facilitator: ${entry.text}`;
      case "resolve": return `${who} resolved: ${entry.summary}`;
      default: return `${who} ${entry.event}`;
    }
  }

  function renderTimeline(timeline) {
    setList($("timeline"), timeline.slice().reverse().map((entry) => el("li",
      { class: `entry ev-${entry.event}${entry.kind ? " kind-" + entry.kind : ""}` },
      el("time", { datetime: entry.at, text: hms(entry.at) }), " ",
      el("span", { class: "text", text: describe(entry) }))));
    const open = (state.hypotheses || []).filter((h) => !h.dropped);
    $("hypotheses").replaceChildren(...(open.length ? [el("h3", { text: "Open hypotheses" })] : []),
      ...open.map((h) => el("div", { class: "hypothesis" },
        el("span", { text: `${h.text} (${h.actor}, ${hms(h.at)})` }), " ",
        team ? el("button", { type: "button", class: "drop", "data-note": h.note_id, text: "Drop" }) : null)));
  }

  function renderActions(view) {
    const flag = view.actions.find((a) => a.name === "flag");
    const switches = Object.entries(view.switches || {});
    const box = $("switches");
    if (flag && switches.length) {
      box.replaceChildren(el("h3", { text: "Switches" }), ...switches.map(([name, on]) => el("div",
        { class: `switch ${on ? "on" : "off"}`, "data-switch": name },
        el("span", { class: "name", text: name }), " ",
        el("span", { class: "value", text: on ? "on" : "off" }), " ",
        team ? el("button", { type: "button", class: "flip", disabled: flag.unavailable ? "" : null,
          "data-switch": name, "data-to": on ? "false" : "true", text: on ? "turn off" : "turn on" }) : null)));
    } else box.replaceChildren();
    // the switches panel stands for ``flag`` when there are switches to show; else it is listed as the others
    const others = view.actions.filter((a) => a.name !== "flag" || !switches.length);
    $("other-actions").replaceChildren(...others.map((a) => actionForm(a)));
    setList($("done"), view.done.slice().reverse().map((d) => el("li", { class: `done-item ${d.result}` },
      el("time", { datetime: d.at, text: hms(d.at) }), " ",
      el("span", { text: describe({ ...d, event: "action" }) }), " ",
      team && d.result === "ok" && !d.undone_by && !["undo", "unavailable"].includes(d.action) &&
        (view.actions.find((a) => a.name === d.action) || {}).undoable
        ? el("button", { type: "button", class: "undo", "data-action-id": d.action_id, text: "Undo" }) : null,
      d.undone_by ? el("span", { class: "undone", text: "undone" }) : null)));
  }

  // a form from an action's JSON schema: booleans, numbers, enums and strings
  function actionForm(action) {
    const props = (action.params_schema && action.params_schema.properties) || {};
    const required = new Set((action.params_schema && action.params_schema.required) || []);
    const fields = action.unavailable ? [] : Object.entries(props).map(([name, schema]) => {
      let input;
      // a number-or-string (a duration: 30m or 1800) is typed as text
      const types = schema.type ? [schema.type] : (schema.anyOf || []).map((s) => s.type).filter((t) => t && t !== "null");
      const type = types.includes("string") ? "string" : types[0];
      const choices = schema.enum || (schema.const !== undefined ? [schema.const] : null);
      if (choices) {
        input = el("select", { name }, ...choices.map((v) => el("option", { value: v, text: v })));
      } else if (type === "boolean") {
        input = el("input", { type: "checkbox", name });
      } else if (type === "integer" || type === "number") {
        input = el("input", { type: "number", name, step: type === "integer" ? "1" : "any", min: schema.minimum ?? null,
          max: schema.maximum ?? null, required: required.has(name) ? "" : null, placeholder: schema.description || null });
      } else {
        input = el("input", { name, maxlength: 2000, required: required.has(name) ? "" : null, value: schema.default ?? null,
          placeholder: schema.description || null });
      }
      if (schema.description) input.title = schema.description;
      input.dataset.type = type || "string";
      return el("label", {}, name + " ", input);
    });
    const disabled = !team || action.unavailable;
    return el("form", { class: "action row", "data-action": action.name, title: action.unavailable || action.summary },
      el("strong", { text: action.name }), " ", el("span", { class: "summary", text: action.summary }), " ",
      ...fields, team && !action.unavailable ? el("button", { type: "submit", disabled: disabled ? "" : null, text: "Do it" }) : null,
      action.unavailable ? el("span", { class: "unavailable", text: action.unavailable }) : null);
  }

  function renderTeam(view) {
    setList($("members"), view.members.map((m) => el("li", {},
      el("strong", { text: m.name }), " ", el("span", { class: "role", text: ROLE[m.role] || m.role }))));
    const crashes = view.crashes || [];
    $("crashes").textContent = crashes.length
      ? `${crashes.length} crash${crashes.length > 1 ? "es" : ""}; last at ${hms(crashes[crashes.length - 1].at)} (${crashes[crashes.length - 1].service}, ${crashes[crashes.length - 1].reason})`
      : "No crash.";
  }

  function faultItem(f) {
    return el("li", {}, el("strong", { text: f.name || f.label }), " ",
      el("span", { text: `${f.fault_type || f.type} ${f.target ? "on " + f.target : ""}` }), " ",
      el("span", { class: "since", text: f.injected_at ? `since ${hms(f.injected_at)}` : `in ${Math.round(f.in_s)} s${f.recurring ? " (recurring)" : ""}` }),
      f.ended_at ? el("span", { class: "since", text: ` until ${hms(f.ended_at)} (${f.outcome})` }) : null);
  }

  function renderFacilitator(view) {
    const faults = view.faults || { active: [], next: [], past: [] };
    setList($("faults-active"), faults.active.map(faultItem));
    setList($("faults-next"), (faults.next || []).map(faultItem));
    setList($("faults-past"), faults.past.slice(-10).reverse().map(faultItem));
    setList($("expected"), (view.expected_mitigations || []).map((m) => el("li", {},
      el("strong", { text: m.action }), " ", JSON.stringify(m.params || {}), m.why ? " · " + m.why : "")));
    renderSlis(view.slis, view.crashes || []);
    $("reveal").disabled = view.gameday.revealed;
    $("end").disabled = Boolean(view.gameday.end_requested_at || view.gameday.ended);
  }

  function renderSlis(slis, crashes) {
    const box = $("slis");
    if (!box) return;
    const tiles = [];
    const values = (slis && slis.values) || {};
    const fmt = {
      availability: (v) => (v * 100).toFixed(2) + " %",
      p99_ms: (v) => v.toFixed(0) + " ms",
      rps: (v) => v.toFixed(1),
      burn_rate: (v) => v.toFixed(1) + "x",
    };
    const labels = {
      availability: "players' availability",
      p99_ms: "players' p99",
      rps: "requests per second",
      burn_rate: "error-budget burn rate",
    };
    for (const name of Object.keys(labels)) {
      const v = values[name];
      const label = (slis && slis.labels && slis.labels[name]) || labels[name];
      tiles.push(el("div", { class: "tile", "data-sli": name },
        el("div", { class: "label", text: label }),
        el("div", { class: "value", text: v === null || v === undefined ? "–" : fmt[name](v) })));
    }
    tiles.push(el("div", { class: "tile", "data-sli": "crashes" },
      el("div", { class: "label", text: "crashes" }), el("div", { class: "value", text: String(crashes.length) })));
    box.replaceChildren(...tiles);
  }

  function render(view) {
    state = view;
    clockSkewMs = Date.parse(view.now) - Date.now();
    renderPages(view.pages);
    ring(view.pages);
    renderIncident(view.incident, view.members);
    renderActions(view);
    renderTimeline(view.timeline);
    renderTeam(view);
    if (!team) renderFacilitator(view);
    document.body.classList.toggle("ended", view.gameday.ended);
    document.body.dataset.ready = "1";
  }

  function tick() {
    const clock = $("clock");
    if (!state) return;
    const g = state.gameday;
    if (g.ended) clock.textContent = `ended (${g.ended_reason || ""})`;
    else if (g.ends_at) {
      const left = Math.max(0, (Date.parse(g.ends_at) - Date.now() - clockSkewMs) / 1000);
      clock.textContent = `${Math.floor(left / 60)}:${String(Math.floor(left % 60)).padStart(2, "0")} left`;
    } else clock.textContent = "";
  }
  window.setInterval(tick, 1000);

  // --- live updates ----------------------------------------------------------------------------------
  function setLink(s) {
    const link = $("link");
    link.dataset.state = s;
    link.textContent = s;
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/events?token=" + encodeURIComponent(auth.token));
    source.addEventListener("open", () => setLink("live"));
    source.addEventListener("state", (e) => render(JSON.parse(e.data)));
    source.addEventListener("sli", (e) => { if (state) { state.slis = JSON.parse(e.data); renderSlis(state.slis, state.crashes || []); } });
    source.addEventListener("error", () => {
      setLink("reconnecting");
      // the console may have restarted: check the token still opens it, else show the join form
      api("GET", "/api/state").catch((error) => { if (error.status === 401 || error.status === 403) signOut(); });
    });
  }

  function signOut() {
    if (source) source.close();
    source = null;
    auth = null;
    store.removeItem(KEY);
    $("console").hidden = true;
    $("join").hidden = false;
    $("who").textContent = "";
    setLink("offline");
  }

  async function start() {
    try {
      const view = await api("GET", "/api/state");
      if (view.me) $("who").textContent = `${view.me.name} · ${ROLE[view.me.role] || view.me.role}`;
      else $("who").textContent = "facilitator";
      $("join").hidden = true;
      $("console").hidden = false;
      render(view);
      connect();
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        signOut();
        if (!team) showError(error.message);
      } else {
        showError(error.message);
        window.setTimeout(start, 2000);
      }
    }
  }

  // --- the team's moves (event delegation: the lists are re-rendered) --------------------------------
  function formJson(form) {
    return Object.fromEntries(new FormData(form).entries());
  }

  function onSubmit(id, handler) {
    const form = $(id);
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      try {
        await handler(form);
      } catch (_) {
        /* shown already */
      } finally {
        if (button) button.disabled = false;
      }
    });
  }

  onSubmit("join-form", async (form) => {
    const body = formJson(form);
    try {
      const joined = await api("POST", "/api/join", body);
      auth = { token: joined.token, name: joined.member.name, role: joined.member.role };
      store.setItem(KEY, JSON.stringify(auth));
      unlockAudio();
      await start();
    } catch (error) {
      showError(error.message);
    }
  });
  onSubmit("declare-form", (form) => act("POST", "/api/declare", formJson(form)));
  onSubmit("resolve-form", async (form) => { await act("POST", "/api/resolve", formJson(form)); form.reset(); });
  onSubmit("note-form", async (form) => {
    await act("POST", "/api/notes", formJson(form));
    form.elements.text.value = "";
  });
  onSubmit("wanted-form", async (form) => {
    await act("POST", "/api/actions", { action: "unavailable", params: { wanted: form.elements.wanted.value } });
    form.reset();
  });
  onSubmit("hint-form", async (form) => { await act("POST", "/api/hint", formJson(form)); form.reset(); });
  onSubmit("extend-form", (form) => act("POST", "/api/extend", { by: form.elements.by.value }));

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.action");
    if (!form) return;
    event.preventDefault();
    const params = {};
    for (const input of form.querySelectorAll("input, select")) {
      const type = input.dataset.type;
      if (type === "boolean") params[input.name] = input.checked;
      else if (input.value === "") continue;
      else if (type === "integer" || type === "number") params[input.name] = Number(input.value);
      else params[input.name] = input.value;
    }
    act("POST", "/api/actions", { action: form.dataset.action, params }).catch(() => {});
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.classList.contains("ack") && target.dataset.page) {
      target.disabled = true;
      act("POST", `/api/pages/${encodeURIComponent(target.dataset.page)}/ack`).catch(() => { target.disabled = false; });
    } else if (target.classList.contains("flip")) {
      target.disabled = true;
      act("POST", "/api/actions", { action: "flag", params: { [target.dataset.switch]: target.dataset.to === "true" } })
        .catch(() => { target.disabled = false; });
    } else if (target.classList.contains("undo")) {
      target.disabled = true;
      act("POST", `/api/actions/${encodeURIComponent(target.dataset.actionId)}/undo`).catch(() => { target.disabled = false; });
    } else if (target.classList.contains("drop")) {
      const why = window.prompt("Why drop this hypothesis?", "ruled out");
      if (why) act("POST", "/api/notes", { kind: "drop", ref: target.dataset.note, text: why }).catch(() => {});
    } else if (target.id === "reveal") {
      act("POST", "/api/reveal").catch(() => {});
    } else if (target.id === "end") {
      if (window.confirm("End the game day now?")) {
        const reason = $("end-reason").value;
        act("POST", "/api/end", reason ? { reason } : {}).catch(() => {});
      }
    }
  });

  // --- start -----------------------------------------------------------------------------------------
  if (!team) {
    const match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (match) {
      store.setItem(KEY, JSON.stringify({ token: decodeURIComponent(match[1]) }));
      // the token leaves the address bar (a projector shows it, history keeps it)
      window.history.replaceState(null, "", window.location.pathname);
    }
  }
  try {
    auth = JSON.parse(store.getItem(KEY) || "null");
  } catch (_) {
    auth = null;
  }
  if (auth && auth.token) start();
  else signOut();
})();
