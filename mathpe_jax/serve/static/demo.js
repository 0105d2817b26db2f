// The demo page: pick or type a problem, solve it with several models (POST /compare), and look
// at each model's attention (POST /attention) as a heatmap. Plain DOM, no dependencies.
// Model output is only ever put in the page as text (textContent), never as HTML.
// A server started with a token answers the API only to "Authorization: Bearer <token>": the page
// takes the token once from its address (#token=..., a fragment the browser never sends) or from
// the form it shows when the server asks, and keeps it in this tab's sessionStorage, which only
// this server's own pages (this host and port) can read.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);

  const state = {
    models: new Map(), // name -> model info from GET /models
    sources: new Map(), // id -> example source from GET /examples (label, the models that read it)
    examples: [], // examples of the chosen source
    solveRun: 0, // counts Solve clicks; an older answer is dropped
    heatmaps: [], // of the cards shown, redrawn when the window is resized
  };

  // -- small helpers ---------------------------------------------------------------------------

  /** An element with attributes, dataset entries and children (strings become text nodes). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "data") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(message, field, status) {
      super(message);
      this.field = field;
      this.status = status;
    }
  }

  // -- the token -------------------------------------------------------------------------------

  const TOKEN_KEY = "mathpe_jax.token";
  let memoryToken = null; // where sessionStorage is unavailable

  function readToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
    } catch (_err) {
      return memoryToken;
    }
  }

  function keepToken(token) {
    memoryToken = token;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch (_err) {
      // kept in memory only: asked again after a reload
    }
  }

  /** Moves a ``#token=...`` of the address into storage, and out of the address bar and history. */
  function takeTokenFromAddress() {
    const match = /^#token=(.+)$/.exec(window.location.hash);
    if (!match) return;
    keepToken(decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  /** Shows the token form with the server's reason (a missing or a wrong token). */
  function askForToken(message) {
    $("#auth-message").textContent = message;
    $("#auth").hidden = false;
    $("#token").focus();
  }

  /** JSON of ``path``; a refusal becomes an ApiError with the server's one-line message. */
  async function api(path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = readToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(`the server cannot be reached (${err.message})`, null, 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_err) {
      // not JSON: described below
    }
    if (!response.ok) {
      const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status} ${response.statusText}`;
      throw new ApiError(message, data ? data.field : null, response.status);
    }
    if (data === null) throw new ApiError(`${path}: the answer is not JSON`, null, response.status);
    return data;
  }

  function formatCount(n) {
    if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
    if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}K`;
    return String(n);
  }

  function formatMs(ms) {
    return `${Math.round(ms).toLocaleString("en-US")} ms`;
  }

  function oneLine(text, limit) {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length <= limit ? flat : `${flat.slice(0, limit - 1)}…`;
  }

  // -- errors and status -----------------------------------------------------------------------

  const FIELD_INPUTS = { problem: "#problem", gold: "#gold", max_new_tokens: "#max-new-tokens", models: "#models" };

  function showError(message, field) {
    const box = $("#error");
    box.textContent = message;
    box.dataset.field = field || "";
    box.hidden = false;
    const input = field && FIELD_INPUTS[field.split(".")[0]];
    if (input) $(input).classList.add("invalid");
  }

  function clearError() {
    const box = $("#error");
    box.hidden = true;
    box.textContent = "";
    delete box.dataset.field;
    document.querySelectorAll(".invalid").forEach((node) => node.classList.remove("invalid"));
  }

  function setStatus(text, busy = false) {
    const status = $("#status");
    status.textContent = text;
    status.classList.toggle("busy", busy);
  }

  // -- models and examples ---------------------------------------------------------------------

  async function loadModels() {
    const { models } = await api("/models");
    const list = $("#model-list");
    list.replaceChildren();
    for (const model of models) {
      state.models.set(model.name, model);
      const details = `${model.pe} · ${formatCount(model.parameters)} params · ${model.task}`;
      list.append(el("label", { class: "model-option", title: `${model.source}\n${model.max_len} positions, ${model.num_layers} layers × ${model.num_heads} heads` },
        el("input", { type: "checkbox", value: model.name, checked: true, data: { model: model.name } }),
        el("span", { class: "model-name", text: model.name }),
        el("span", { class: "model-details", text: details }),
      ));
    }
    const positions = Math.min(...models.map((m) => m.max_len));
    $("#max-new-tokens-hint").textContent = `(optional; prompt + new tokens ≤ ${positions})`;
  }

  async function loadSources() {
    const { sources } = await api("/examples");
    const select = $("#source");
    select.replaceChildren(el("option", { value: "", text: sources.length ? "Choose a source…" : "No examples" }));
    state.sources = new Map(sources.map((source) => [source.id, source]));
    for (const source of sources) {
      const readers = source.models.length ? source.models.join(", ") : "no served model";
      select.append(el("option", { value: source.id, text: `${source.label} (read by ${readers})` }));
    }
  }

  /** Checks the models that can read the chosen source's problems, and only those. */
  function checkReaders(source) {
    const readers = new Set((state.sources.get(source) || { models: [] }).models);
    if (!readers.size) return;
    for (const box of document.querySelectorAll("#model-list input[type=checkbox]")) box.checked = readers.has(box.value);
  }

  async function chooseSource() {
    const source = $("#source").value;
    checkReaders(source);
    const select = $("#example");
    state.examples = [];
    select.replaceChildren(el("option", { value: "", text: source ? "Loading…" : "Pick a source first" }));
    select.disabled = true;
    if (!source) return;
    try {
      const { examples } = await api(`/examples/${encodeURIComponent(source)}?count=50`);
      if ($("#source").value !== source) return; // another source was chosen meanwhile
      state.examples = examples;
      select.replaceChildren(el("option", { value: "", text: `Choose one of ${examples.length} examples…` }));
      examples.forEach((example, i) => {
        select.append(el("option", { value: String(i), text: `${example.label}: ${oneLine(example.problem, 70)}` }));
      });
      select.disabled = false;
    } catch (err) {
      select.replaceChildren(el("option", { value: "", text: "No examples" }));
      showError(err.message, err.field);
    }
  }

  function chooseExample() {
    const example = state.examples[Number($("#example").value)];
    if ($("#example").value === "" || !example) return;
    $("#problem").value = example.problem;
    $("#gold").value = example.gold;
    clearError();
  }

  // -- solving ---------------------------------------------------------------------------------

  function checkedModels() {
    return [...document.querySelectorAll("#model-list input[type=checkbox]:checked")].map((box) => box.value);
  }

  async function solve() {
    clearError();
    const problem = $("#problem").value;
    const gold = $("#gold").value.trim();
    const maxNew = $("#max-new-tokens").value.trim();
    const models = checkedModels();
    if (!problem.trim()) return showError("Type a problem or pick an example first.", "problem");
    if (!models.length) return showError("Choose at least one model.", "models");
    const body = { problem, models };
    if (gold) body.gold = gold;
    if (maxNew) {
      const n = Number(maxNew);
      if (!Number.isInteger(n) || n < 1) return showError("Max new tokens must be a whole number of at least 1.", "max_new_tokens");
      body.max_new_tokens = n;
    }

    const run = ++state.solveRun;
    const button = $("#solve");
    button.disabled = true;
    $("#results").classList.add("stale");
    setStatus("Solving… (a model's first request compiles it, which takes a moment)", true);
    try {
      const answer = await api("/compare", body);
      if (run !== state.solveRun) return;
      renderResults(answer);
      setStatus(summary(answer));
    } catch (err) {
      if (run !== state.solveRun) return;
      $("#results").replaceChildren();
      state.heatmaps = [];
      setStatus("");
      if (err.status === 401) askForToken(err.message);
      else showError(err.message, err.field);
    } finally {
      if (run === state.solveRun) {
        button.disabled = false;
        $("#results").classList.remove("stale");
      }
    }
  }

  function summary(answer) {
    const graded = answer.results.filter((r) => r.correct !== null);
    const refused = answer.refused.length ? ` ${answer.refused.length} model(s) could not take the problem.` : "";
    if (!graded.length) return `${answer.results.length} model(s) answered; no gold answer, so none graded.${refused}`;
    const right = graded.filter((r) => r.correct).length;
    return `${right} of ${graded.length} model(s) correct.${refused}`;
  }

  function verdictOf(result) {
    if (result.correct === true) return { key: "correct", text: "✓ correct" };
    if (result.correct === false) return { key: "wrong", text: "✗ wrong" };
    return { key: "ungraded", text: "not graded" };
  }

  function renderResults(answer) {
    const cards = answer.results.map((result) => resultCard(answer, result));
    const refusals = answer.refused.map((refusal) =>
      el("article", { class: "result-card refused", data: { model: refusal.model, verdict: "refused" } },
        el("header", { class: "card-header" },
          el("h2", { class: "card-title", text: refusal.model }),
          el("span", { class: "verdict verdict-ungraded", text: "cannot take this problem" }),
        ),
        el("p", { class: "refusal", text: refusal.error }),
      ));
    $("#results").replaceChildren(...cards, ...refusals);
    state.heatmaps = cards.map((card) => card.heatmap).filter(Boolean);
    for (const heatmap of state.heatmaps) heatmap.load();
  }

  function resultCard(answer, result) {
    const info = state.models.get(result.model) || { pe: "?", num_layers: 0, num_heads: 0, attention_maps: false };
    const verdict = verdictOf(result);
    const card = el("article", { class: "result-card", data: { model: result.model, verdict: verdict.key } },
      el("header", { class: "card-header" },
        el("h2", { class: "card-title", text: result.model }),
        el("span", { class: "pe-badge", title: "positional encoding", text: info.pe }),
        el("span", { class: `verdict verdict-${verdict.key}`, data: { verdict: verdict.key }, text: verdict.text }),
      ),
      el("div", { class: "answer-row" },
        el("span", { class: "answer-label", text: "Answer" }),
        el("span", { class: result.answer === null ? "answer none" : "answer", text: result.answer === null ? "(none extracted)" : result.answer }),
        answer.gold !== null && answer.gold !== undefined
          ? el("span", { class: "gold-label", text: `gold ${answer.gold.trim()}` })
          : null,
      ),
      el("pre", { class: "completion", text: result.completion === "" ? "(empty completion)" : result.completion }),
      el("dl", { class: "stats" },
        stat("Latency", el("span", { class: "latency", text: formatMs(result.latency_ms) })),
        stat("Tokens", el("span", { class: "tokens", text: `${result.prompt_tokens} prompt + ${result.completion_tokens} new` })),
        stat("Ended", el("span", { class: "finished", text: result.finished ? "at EOS" : "cut by the budget" })),
        stat("Batch", el("span", { class: "batch", text: String(result.batch_size) })),
      ),
    );
    if (info.attention_maps && info.num_layers > 0 && info.num_heads > 0) {
      card.heatmap = new Heatmap(card, answer, result, info);
    } else {
      card.append(el("p", { class: "muted note", text: "This model's attention implementation returns no attention maps." }));
    }
    return card;
  }

  function stat(label, value) {
    return el("div", { class: "stat" }, el("dt", { text: label }), el("dd", {}, value));
  }

  // -- attention heatmaps ----------------------------------------------------------------------

  // Viridis, ten stops from 0 to 1.
  const VIRIDIS = [
    [68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37],
  ];
  const MASKED = [236, 239, 243]; // a key a causal query cannot see
  const MAX_CELL = 36; // pixels per token at most
  const LABEL_FONT = "12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";

  function colour(t) {
    const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
  }

  /** A readable axis label: spaces are shown as ␣, long tokens are cut. */
  function tokenLabel(token, limit = 6) {
    const text = token.replace(/ /g, "␣");
    return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
  }

  class Heatmap {
    constructor(card, answer, result, info) {
      this.problem = answer.problem;
      this.completionIds = result.completion_token_ids; // exact: what was decoded, EOS included
      this.model = result.model;
      this.promptTokens = result.prompt_tokens;
      this.request = 0;
      this.data = null;
      this.hover = null;

      const options = (count, name) => Array.from({ length: count }, (_, i) => el("option", { value: String(i), text: `${name} ${i}` }));
      this.layer = el("select", { class: "layer", "aria-label": "layer", data: { model: result.model } }, options(info.num_layers, "layer"));
      this.head = el("select", { class: "head", "aria-label": "head", data: { model: result.model } }, options(info.num_heads, "head"));
      this.layer.addEventListener("change", () => this.load());
      this.head.addEventListener("change", () => this.load());

      this.canvas = el("canvas", { class: "heatmap", width: 0, height: 0, data: { model: result.model, drawn: "false" } });
      this.canvas.addEventListener("mousemove", (event) => this.pointAt(event));
      this.canvas.addEventListener("mouseleave", () => this.pointAt(null));
      this.info = el("div", { class: "heat-info", text: "Hover over the map: query token → key token." });
      this.error = el("div", { class: "heat-error", role: "alert", hidden: true });
      this.box = el("div", { class: "heat-box" }, this.canvas);

      card.append(el("section", { class: "attention" },
        el("div", { class: "attention-header" },
          el("h3", { text: "Attention" }),
          el("div", { class: "attention-controls" }, this.layer, this.head),
        ),
        this.box,
        el("div", { class: "legend" },
          el("span", { text: "0" }), el("span", { class: "legend-bar" }), el("span", { text: "1" }),
          el("span", { class: "legend-note", text: "rows: queries · columns: keys · white lines: prompt | completion" }),
        ),
        this.info,
        this.error,
      ));
    }

    async load() {
      const request = ++this.request;
      const layer = Number(this.layer.value);
      const head = Number(this.head.value);
      this.canvas.dataset.drawn = "false";
      this.box.classList.add("loading");
      this.error.hidden = true;
      try {
        const data = await api("/attention", { model: this.model, problem: this.problem, completion_token_ids: this.completionIds, layer, head });
        if (request !== this.request) return;
        this.data = data;
        this.hover = null;
        this.draw();
      } catch (err) {
        if (request !== this.request) return;
        this.error.textContent = `Attention: ${err.message}`;
        this.error.hidden = false;
      } finally {
        if (request === this.request) this.box.classList.remove("loading");
      }
    }

    /** Sizes of the map: cell size, label margins, where the grid starts, which key labels turn. */
    layout() {
      const { tokens } = this.data;
      const n = tokens.length;
      const available = Math.max(160, this.box.clientWidth - 4);
      const ctx = this.canvas.getContext("2d");
      ctx.font = LABEL_FONT;
      const widths = tokens.map((t) => ctx.measureText(tokenLabel(t)).width);
      const margin = Math.ceil(Math.max(...widths)) + 8;
      let cell = Math.min(MAX_CELL, (available - margin) / n);
      const labels = cell >= 10;
      if (!labels) cell = Math.min(MAX_CELL, available / n);
      // A key label wider than its column is written upwards.
      const turned = widths.map((w) => w > cell - 2);
      const turnedWidth = Math.max(0, ...widths.filter((_, i) => turned[i]));
      const left = labels ? margin : 0;
      const top = labels ? Math.max(18, Math.ceil(turnedWidth) + 8) : 0;
      return { n, cell, labels, turned, left, top, grid: cell * n };
    }

    draw() {
      const { tokens, weights, first_token: first } = this.data;
      const lay = this.layout();
      const { n, cell, left, top, grid } = lay;
      const ratio = window.devicePixelRatio || 1;
      const width = Math.ceil(left + grid + 2);
      const height = Math.ceil(top + grid + 2);
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
      this.lay = lay;

      // One pixel per (query, key) cell, scaled up without smoothing.
      const image = new ImageData(n, n);
      for (let q = 0; q < n; q++) {
        for (let k = 0; k < n; k++) {
          const w = weights[q][k];
          const [r, g, b] = k > q && w === 0 ? MASKED : colour(w);
          const at = (q * n + k) * 4;
          image.data[at] = r;
          image.data[at + 1] = g;
          image.data[at + 2] = b;
          image.data[at + 3] = 255;
        }
      }
      const cells = document.createElement("canvas");
      cells.width = n;
      cells.height = n;
      cells.getContext("2d").putImageData(image, 0, 0);

      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(cells, left, top, grid, grid);

      // Where the completion starts (tokens before first_token are not shown).
      const boundary = this.promptTokens - first;
      if (boundary > 0 && boundary < n) {
        ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(left + boundary * cell, top);
        ctx.lineTo(left + boundary * cell, top + grid);
        ctx.moveTo(left, top + boundary * cell);
        ctx.lineTo(left + grid, top + boundary * cell);
        ctx.stroke();
      }

      if (lay.labels) this.drawLabels(ctx, tokens, lay, boundary);

      if (this.hover) {
        const [q, k] = this.hover;
        ctx.strokeStyle = "#ff4f6d";
        ctx.lineWidth = 2;
        ctx.strokeRect(left + k * cell, top + q * cell, cell, cell);
      }

      this.canvas.dataset.drawn = "true";
      this.canvas.dataset.tokens = String(n);
      this.canvas.dataset.layer = String(this.data.layer);
      this.canvas.dataset.head = String(this.data.head);
    }

    drawLabels(ctx, tokens, lay, boundary) {
      const { cell, left, top, turned } = lay;
      ctx.font = LABEL_FONT;
      tokens.forEach((token, i) => {
        const label = tokenLabel(token);
        ctx.fillStyle = i >= boundary ? "#b5462f" : "#3b4252";
        // Queries down the left, right-aligned.
        ctx.textAlign = "right";
        ctx.textBaseline = "middle";
        ctx.fillText(label, left - 5, top + (i + 0.5) * cell);
        // Keys along the top.
        if (turned[i]) {
          ctx.save();
          ctx.translate(left + (i + 0.5) * cell, top - 5);
          ctx.rotate(-Math.PI / 2);
          ctx.textAlign = "left";
          ctx.fillText(label, 0, 0);
          ctx.restore();
        } else {
          ctx.textAlign = "center";
          ctx.textBaseline = "bottom";
          ctx.fillText(label, left + (i + 0.5) * cell, top - 4);
        }
      });
    }

    pointAt(event) {
      if (!this.data || !this.lay) return;
      let hover = null;
      if (event) {
        const rect = this.canvas.getBoundingClientRect();
        const x = event.clientX - rect.left - this.lay.left;
        const y = event.clientY - rect.top - this.lay.top;
        const k = Math.floor(x / this.lay.cell);
        const q = Math.floor(y / this.lay.cell);
        if (q >= 0 && k >= 0 && q < this.lay.n && k < this.lay.n) hover = [q, k];
      }
      const same = hover && this.hover && hover[0] === this.hover[0] && hover[1] === this.hover[1];
      if (same || (!hover && !this.hover)) return;
      this.hover = hover;
      if (hover) {
        const [q, k] = hover;
        const { tokens, weights, first_token: first } = this.data;
        this.info.textContent = `query #${first + q} ${JSON.stringify(tokens[q])} → key #${first + k} ${JSON.stringify(tokens[k])}: ${weights[q][k].toFixed(4)}`;
      } else {
        this.info.textContent = "Hover over the map: query token → key token.";
      }
      this.draw();
    }
  }

  // -- start -----------------------------------------------------------------------------------

  async function start() {
    $("#source").addEventListener("change", chooseSource);
    $("#example").addEventListener("change", chooseExample);
    $("#solve").addEventListener("click", solve);
    $("#problem").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        solve();
      }
    });
    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => state.heatmaps.forEach((h) => h.data && h.draw()), 150);
    });
    $("#auth").addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = $("#token").value.trim();
      if (!token) return;
      keepToken(token);
      $("#token").value = "";
      await load();
    });
    takeTokenFromAddress();
    await load();
    document.body.dataset.ready = "true";
  }

  /** The models and example sources; the token form instead when the server wants a token. */
  async function load() {
    clearError();
    const results = await Promise.allSettled([loadModels(), loadSources()]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed && failed.reason.status === 401) return askForToken(failed.reason.message);
    $("#auth").hidden = true;
    if (failed) showError(`The demo could not start: ${failed.reason.message}`, failed.reason.field);
  }

  start();
})();
