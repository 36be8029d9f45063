// The ohmycoins dashboard: reads /api/v1 with fetch and refreshes every 30 s; the
// tickers, the chart and the trades tape also update live from the /api/v1/stream
// socket, and are polled every 5 s while that socket is closed. No build step: plain browser JS over the vendored Lightweight Charts (global
// `LightweightCharts`). Data from the API is only ever written as text, never as HTML.
"use strict";

(() => {
  const API = "/api/v1";
  const REFRESH_MS = 30_000;
  const KEY_STORAGE = "ohmycoins.apiKey";
  const SELECTION_STORAGE = "ohmycoins.selection";
  const TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d"]; // settings.TIMEFRAMES
  const CANDLE_LIMIT = 500;
  const TAPE_ROWS = 50;
  const POLL_MS = 5_000; // the market's refresh while the stream socket is closed
  const RECONNECT_MS = 5_000;
  // A server without these endpoints (an older version) answers 404: shown as "no source".
  const NEWS_PATH = "/news?limit=10";
  const CATALYSTS_PATH = "/catalyst/events?limit=10";
  // The exchange id of the simulator's data (collectors.clients.SIM_EXCHANGE).
  const SIM_EXCHANGE = "sim";
  const COLORS = { up: "#26a69a", down: "#ef5350", text: "#d8dee6", grid: "#1f2833", bg: "#171d24" };

  const $ = (selector) => document.querySelector(selector);

  class HttpError extends Error {
    constructor(status, detail) {
      super(`${status}: ${detail}`);
      this.status = status;
      this.detail = detail;
    }
  }

  // --- API ------------------------------------------------------------------

  async function getJson(path) {
    const headers = { Accept: "application/json" };
    const key = localStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    const response = await fetch(API + path, { headers, cache: "no-store" });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const body = await response.json();
        detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
      } catch (_ignored) {
        // not JSON: keep the status text
      }
      throw new HttpError(response.status, detail);
    }
    return response.json();
  }

  const isAuthError = (error) => error instanceof HttpError && (error.status === 401 || error.status === 403);
  const rowsOf = (body) => (Array.isArray(body) ? body : (body && body.data) || []);

  // --- formatting -----------------------------------------------------------

  function utc(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function ago(ms) {
    const seconds = Math.max(0, (Date.now() - ms) / 1000);
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  }

  function duration(seconds) {
    return ago(Date.now() - seconds * 1000);
  }

  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

  // Decimal text without the zeros a source pads it with ("45577.27000000" becomes
  // "45577.27"), keeping at least `keep` decimals; the value itself is unchanged.
  function trimmed(text, keep = 2) {
    if (text == null) return text;
    const value = String(text);
    const dot = value.indexOf(".");
    if (dot < 0) return value;
    let end = value.length;
    while (end > dot + 1 + keep && value[end - 1] === "0") end -= 1;
    return value.slice(0, end === dot + 1 ? dot : end);
  }

  function decimals(text) {
    const value = trimmed(text, 0);
    const dot = value.indexOf(".");
    return dot < 0 ? 0 : value.length - dot - 1;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text ?? "–";
    if (className) td.className = className;
    return td;
  }

  function timeCell(ms) {
    const td = cell(ms == null ? "never" : ago(ms));
    if (ms != null) td.title = utc(ms);
    return td;
  }

  function showEmpty(section, message) {
    const note = section.querySelector(".empty");
    note.textContent = message || "";
    note.hidden = !message;
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  // --- collectors -----------------------------------------------------------

  // red: failing or circuit open; amber: paused, never run, or stale; green: ok and fresh.
  function light(health, intervalSeconds) {
    if (health.status === "failing" || health.status === "circuit_open") return "red";
    if (health.status !== "ok") return "amber";
    const stale = intervalSeconds ? 2 * intervalSeconds + 60 : null;
    if (health.freshness_seconds == null || (stale && health.freshness_seconds > stale)) return "amber";
    return "green";
  }

  async function loadCollectors() {
    const section = $("#collectors-section");
    const [health, schedule] = await Promise.all([
      getJson("/collectors/health"),
      getJson("/collectors").catch(() => []),
    ]);
    const intervals = new Map(schedule.map((c) => [c.name, c.interval_seconds]));
    const body = $("#collectors tbody");
    body.replaceChildren(
      ...health.collectors.map((c) => {
        const tr = document.createElement("tr");
        const color = light(c, intervals.get(c.name));
        const dot = document.createElement("span");
        dot.className = `light ${color}`;
        dot.title = color;
        const first = cell("");
        first.append(dot);
        const name = cell(c.name);
        if (c.source) name.title = `source: ${c.source}`;
        const status = cell(c.status.replace("_", " "));
        const fresh = cell(c.freshness_seconds == null ? "never" : duration(c.freshness_seconds));
        if (c.last_success_ts != null) fresh.title = utc(c.last_success_ts);
        const error = cell(c.last_error || "", "error-text");
        error.title = c.last_error || "";
        tr.dataset.light = color;
        tr.append(first, name, status, fresh, error);
        return tr;
      }),
      ...(health.disabled || []).map((c) => {
        const tr = document.createElement("tr");
        const dot = document.createElement("span");
        dot.className = "light off";
        dot.title = "off";
        const first = cell("");
        first.append(dot);
        const name = cell(c.name);
        name.title = `source: ${c.source}`;
        tr.dataset.light = "off";
        const why = c.status.replace(/^disabled: /, "");
        tr.append(first, name, cell("disabled"), cell("-"), cell(why, "muted"));
        return tr;
      }),
    );
    showEmpty(section, health.collectors.length ? "" : "No collectors scheduled yet (they appear once `omc run` starts).");
  }

  // --- alerts ---------------------------------------------------------------

  // red: firing; green: resolved (kept a while so a flapping alert can be seen).
  async function loadAlerts() {
    const section = $("#alerts-section");
    const listed = await getJson("/alerts");
    $("#alerts tbody").replaceChildren(
      ...listed.alerts.map((a) => {
        const tr = document.createElement("tr");
        const color = a.state === "firing" ? "red" : "green";
        const dot = document.createElement("span");
        dot.className = `light ${color}`;
        dot.title = a.state;
        const first = cell("");
        first.append(dot);
        const message = cell(a.message, a.state === "firing" ? "error-text" : "muted");
        const since = timeCell(a.state === "firing" ? a.since_ts : a.resolved_ts);
        tr.dataset.state = a.state;
        tr.append(first, cell(a.rule.replace("_", " ")), cell(a.subject), message, since);
        return tr;
      }),
    );
    showEmpty(section, listed.alerts.length ? "" : "No alerts: every rule holds.");
  }

  // --- the demo -------------------------------------------------------------

  // A demo server (`omc run --demo`) says so in /health: its data are simulated.
  async function loadDemo() {
    const health = await getJson("/health");
    $("#demo-banner").hidden = !health.demo;
  }

  // An exchange as shown: simulated data are marked wherever they appear.
  const exchangeLabel = (exchange) => (exchange === SIM_EXCHANGE ? `${exchange} (simulated)` : exchange);

  // --- tickers and the market selects ----------------------------------------

  const selection = loadSelection();
  let tickers = [];

  function loadSelection() {
    try {
      return JSON.parse(localStorage.getItem(SELECTION_STORAGE)) || {};
    } catch (_ignored) {
      return {};
    }
  }

  function saveSelection() {
    localStorage.setItem(SELECTION_STORAGE, JSON.stringify(selection));
  }

  function fillSelect(select, values, wanted, label = (v) => v) {
    const current = values.includes(wanted) ? wanted : values[0];
    const same = select.options.length === values.length && values.every((v, i) => select.options[i].value === v);
    if (!same) select.replaceChildren(...values.map((v) => new Option(label(v), v)));
    if (current !== undefined) select.value = current;
    return current;
  }

  function fillMarketSelects() {
    const exchanges = [...new Set(tickers.map((t) => t.exchange))].sort();
    selection.exchange = fillSelect($("#exchange"), exchanges, selection.exchange, exchangeLabel);
    const symbols = tickers.filter((t) => t.exchange === selection.exchange).map((t) => t.symbol).sort();
    selection.symbol = fillSelect($("#symbol"), symbols, selection.symbol);
    selection.timeframe = fillSelect($("#timeframe"), TIMEFRAMES, selection.timeframe || "1m");
    markSelectedTicker();
  }

  function markSelectedTicker() {
    for (const tr of $("#tickers tbody").rows) {
      tr.classList.toggle("selected", tr.dataset.exchange === selection.exchange && tr.dataset.symbol === selection.symbol);
    }
  }

  async function loadTickers() {
    tickers = (await getJson("/tickers/latest")).sort(
      (a, b) => a.exchange.localeCompare(b.exchange) || a.symbol.localeCompare(b.symbol),
    );
    $("#tickers tbody").replaceChildren(...tickers.map(tickerRow));
    showEmpty($("#tickers-section"), tickers.length ? "" : "No tickers stored yet.");
    fillMarketSelects();
    live.sync();
  }

  function tickerRow(t) {
    const tr = document.createElement("tr");
    tr.dataset.exchange = t.exchange;
    tr.dataset.symbol = t.symbol;
    if (t.exchange === SIM_EXCHANGE) tr.classList.add("simulated");
    const change = t.change_pct_24h == null ? null : Number(t.change_pct_24h);
    const changeText = change == null ? null : `${change > 0 ? "+" : ""}${change.toFixed(2)}`;
    const volume = t.base_volume_24h == null ? null : compact.format(Number(t.base_volume_24h));
    tr.append(
      cell(exchangeLabel(t.exchange)),
      cell(t.symbol),
      cell(trimmed(t.last), "num"),
      cell(trimmed(t.bid), "num"),
      cell(trimmed(t.ask), "num"),
      cell(changeText, `num ${change > 0 ? "up" : change < 0 ? "down" : ""}`),
      cell(volume, "num"),
      timeCell(t.ts),
    );
    tr.addEventListener("click", () => selectMarket(t.exchange, t.symbol));
    return tr;
  }

  // A streamed ticker replaces its market's row (a market not listed yet waits for the
  // next refresh, which lists it).
  function updateTicker(t) {
    const index = tickers.findIndex((k) => k.exchange === t.exchange && k.symbol === t.symbol);
    if (index < 0) return;
    tickers[index] = t;
    const old = $("#tickers tbody").rows[index];
    const tr = tickerRow(t);
    tr.classList.toggle("selected", old.classList.contains("selected"));
    tr.dataset.live = "1";
    old.replaceWith(tr);
  }

  function selectMarket(exchange, symbol) {
    selection.exchange = exchange;
    selection.symbol = symbol;
    fillMarketSelects();
    saveSelection();
    marketChanged();
  }

  // A new market or timeframe: its chart and tape, and the channels that follow them.
  function marketChanged() {
    loadChart(true).catch(showError);
    loadTape().catch(showError);
    live.sync();
  }

  // --- the chart ------------------------------------------------------------

  let chart = null;
  let candleSeries = null;
  let volumeSeries = null;
  let chartRequest = 0;
  let drawn = ""; // the series on the chart: a new one is fitted to the view

  function createChart() {
    const LWC = window.LightweightCharts;
    chart = LWC.createChart($("#chart"), {
      autoSize: true,
      layout: { background: { type: "solid", color: COLORS.bg }, textColor: COLORS.text },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: COLORS.grid },
      rightPriceScale: { borderColor: COLORS.grid, scaleMargins: { top: 0.05, bottom: 0.28 } },
    });
    candleSeries = chart.addSeries(LWC.CandlestickSeries, {
      upColor: COLORS.up,
      downColor: COLORS.down,
      wickUpColor: COLORS.up,
      wickDownColor: COLORS.down,
      borderVisible: false,
    });
    volumeSeries = chart.addSeries(LWC.HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "volume",
      lastValueVisible: false,
      priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
  }

  async function loadChart(reset) {
    const { exchange, symbol, timeframe } = selection;
    const container = $("#chart");
    const note = $("#chart-note");
    if (!exchange || !symbol) {
      candleSeries.setData([]);
      volumeSeries.setData([]);
      container.dataset.candles = "0";
      note.textContent = "Choose a market once tickers are stored.";
      return;
    }
    const request = ++chartRequest;
    const query = new URLSearchParams({ exchange, symbol, timeframe, order: "desc", limit: String(CANDLE_LIMIT) });
    const rows = rowsOf(await getJson(`/candles?${query}`)).reverse();
    if (request !== chartRequest) return; // a newer selection already answered
    const precision = Math.min(8, Math.max(2, ...rows.map((c) => decimals(c.close))));
    candleSeries.applyOptions({ priceFormat: { type: "price", precision, minMove: 10 ** -precision } });
    container.dataset.precision = String(precision);
    candleSeries.setData(
      rows.map((c) => ({
        time: c.ts / 1000,
        open: Number(c.open),
        high: Number(c.high),
        low: Number(c.low),
        close: Number(c.close),
      })),
    );
    volumeSeries.setData(
      rows.map((c) => ({
        time: c.ts / 1000,
        value: Number(c.volume),
        color: Number(c.close) >= Number(c.open) ? "rgba(38,166,154,0.5)" : "rgba(239,83,80,0.5)",
      })),
    );
    const market = `${exchangeLabel(exchange)} ${symbol}`;
    const series = `${market} ${timeframe}`;
    if (reset || series !== drawn) chart.timeScale().fitContent();
    drawn = series;
    container.dataset.candles = String(rows.length);
    note.textContent = rows.length
      ? `${series}: ${rows.length} candles, newest opened ${utc(rows[rows.length - 1].ts)}, close ${trimmed(rows[rows.length - 1].close)}`
      : `No ${timeframe} candles stored for ${market}.`;
  }

  // A streamed candle of the charted series (the one in progress too) is drawn at once.
  function updateCandle(c) {
    const { exchange, symbol, timeframe } = selection;
    if (c.exchange !== exchange || c.symbol !== symbol || c.timeframe !== timeframe) return;
    const time = c.ts / 1000;
    const [open, close] = [Number(c.open), Number(c.close)];
    try {
      candleSeries.update({ time, open, high: Number(c.high), low: Number(c.low), close });
      const color = close >= open ? "rgba(38,166,154,0.5)" : "rgba(239,83,80,0.5)";
      volumeSeries.update({ time, value: Number(c.volume), color });
    } catch (_older) {
      return; // older than the newest bar drawn: the next load has it
    }
    $("#chart").dataset.live = String(c.ts);
    $("#chart-note").textContent = `${exchangeLabel(exchange)} ${symbol} ${timeframe}: live, candle opened ${utc(c.ts)}, close ${trimmed(c.close)}`;
  }

  // --- the trades tape ------------------------------------------------------

  function tradeRow(t) {
    const tr = document.createElement("tr");
    tr.dataset.tradeId = t.trade_id;
    tr.append(
      cell(new Date(t.ts).toISOString().slice(11, 23)),
      cell(t.side, t.side === "buy" ? "up" : t.side === "sell" ? "down" : ""),
      cell(trimmed(t.price), "num"),
      cell(trimmed(t.amount, 0), "num"),
      cell(t.trade_id, "muted"),
    );
    return tr;
  }

  // The newest trades of the selected market, as stored (on load and while polling).
  async function loadTape() {
    const { exchange, symbol } = selection;
    const table = $("#trades");
    $("#trades-market").textContent = exchange && symbol ? `${exchangeLabel(exchange)} ${symbol}` : "";
    if (!exchange || !symbol) {
      table.tBodies[0].replaceChildren();
      return;
    }
    const query = new URLSearchParams({ exchange, symbol, order: "desc", limit: String(TAPE_ROWS) });
    const rows = rowsOf(await getJson(`/trades?${query}`));
    if (exchange !== selection.exchange || symbol !== selection.symbol) return;
    table.tBodies[0].replaceChildren(...rows.map(tradeRow));
    table.dataset.source = live.open ? "stored" : "polling";
    showEmpty($("#trades-section"), rows.length ? "" : `No trades stored for ${exchange} ${symbol}.`);
  }

  // A streamed trade of the selected market goes on top of the tape (once: a trade
  // received again after a reconnect may be published twice).
  function addTrade(t) {
    if (t.exchange !== selection.exchange || t.symbol !== selection.symbol) return;
    const body = $("#trades tbody");
    if ([...body.rows].some((tr) => tr.dataset.tradeId === t.trade_id)) return;
    const tr = tradeRow(t);
    tr.classList.add("live");
    body.prepend(tr);
    while (body.rows.length > TAPE_ROWS) body.deleteRow(-1);
    $("#trades").dataset.source = "live";
    showEmpty($("#trades-section"), "");
  }

  // --- live: the stream socket, and polling while it is closed -----------------

  const live = {
    socket: null,
    open: false,
    requested: new Set(), // channels asked for on this socket
    acked: new Set(), // channels the server confirmed
    poller: null,
    retry: null,

    connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const socket = new WebSocket(`${scheme}://${location.host}${API}/stream`);
      this.socket = socket;
      socket.addEventListener("open", () => {
        this.open = true;
        this.stopPolling();
        this.show("live", "live");
        this.sync();
      });
      socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
      socket.addEventListener("close", () => this.closed(socket));
    },

    // The socket closed (or never opened): poll the market now and every POLL_MS,
    // and try the socket again later.
    closed(socket) {
      if (socket !== this.socket) return;
      this.socket = null;
      this.open = false;
      this.requested.clear();
      this.acked.clear();
      $("#live").dataset.channels = "";
      this.show("polling", `polling every ${POLL_MS / 1000} s`);
      if (this.poller === null) {
        pollMarket();
        this.poller = setInterval(pollMarket, POLL_MS);
      }
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.connect(), RECONNECT_MS);
    },

    stopPolling() {
      clearInterval(this.poller);
      this.poller = null;
    },

    show(state, text) {
      const badge = $("#live");
      badge.dataset.state = state;
      badge.textContent = text;
    },

    // The channels the page shows: every listed ticker, the selected market's trades
    // and the charted candles.
    wanted() {
      const channels = tickers.map((t) => `tickers:${t.exchange}:${t.symbol}`);
      const { exchange, symbol, timeframe } = selection;
      if (exchange && symbol) channels.push(`trades:${exchange}:${symbol}`, `candles:${exchange}:${symbol}:${timeframe}`);
      return new Set(channels);
    },

    sync() {
      if (!this.open) return;
      const wanted = this.wanted();
      const drop = [...this.requested].filter((c) => !wanted.has(c));
      const add = [...wanted].filter((c) => !this.requested.has(c));
      this.requested = wanted;
      if (drop.length) this.socket.send(JSON.stringify({ unsubscribe: drop }));
      if (add.length) this.socket.send(JSON.stringify({ subscribe: add }));
    },

    receive(message) {
      if (message.subscribed) message.subscribed.forEach((c) => this.acked.add(c));
      if (message.unsubscribed) message.unsubscribed.forEach((c) => this.acked.delete(c));
      if (message.subscribed || message.unsubscribed) $("#live").dataset.channels = [...this.acked].join(" ");
      if (message.error) $("#live").title = message.error;
      if (!message.channel || !message.data) return;
      const kind = message.channel.split(":")[0];
      if (kind === "tickers") updateTicker(message.data);
      else if (kind === "trades") addTrade(message.data);
      else if (kind === "candles") updateCandle(message.data);
    },
  };

  function pollMarket() {
    loadTickers()
      .then(() => Promise.all([loadChart(false), loadTape()]))
      .catch(showError);
  }

  // --- news and catalysts -----------------------------------------------------

  function feedItem(title, url, meta) {
    const li = document.createElement("li");
    const href = safeUrl(url);
    const head = document.createElement(href ? "a" : "span");
    head.textContent = title;
    if (href) {
      head.href = href;
      head.rel = "noopener noreferrer";
      head.target = "_blank";
    }
    const details = document.createElement("div");
    details.className = "meta";
    details.textContent = meta.filter(Boolean).join(" · ");
    li.append(head, details);
    return li;
  }

  async function loadFeed(path, list, note, what, render) {
    try {
      const rows = rowsOf(await getJson(path));
      list.replaceChildren(...rows.map(render));
      note.textContent = rows.length ? "" : `No ${what} stored yet.`;
      list.dataset.state = rows.length ? "items" : "empty";
    } catch (error) {
      list.replaceChildren();
      if (error instanceof HttpError && error.status === 404) {
        note.textContent = `No ${what} source yet: this server has no ${what} endpoint.`;
        list.dataset.state = "no-source";
      } else {
        note.textContent = `Could not load ${what}: ${error.message}`;
        list.dataset.state = "error";
        throw error;
      }
    }
  }

  // A news item whose date could not be read has no publish time: it says so, and
  // its fetch time is never shown in its place.
  const published = (n) => (n.published_ts != null ? ago(n.published_ts) : "date unknown");

  const loadNews = () =>
    loadFeed(NEWS_PATH, $("#news"), $("#news-note"), "news", (n) =>
      feedItem(n.title, n.url, [n.outlet, published(n), (n.currencies || []).join(" "), n.sentiment_label]),
    );

  const loadCatalysts = () =>
    loadFeed(CATALYSTS_PATH, $("#catalysts"), $("#catalysts-note"), "catalyst", (e) =>
      feedItem(e.title, (e.urls || [])[0], [e.event_type, e.impact != null && `impact ${e.impact}/10`, (e.assets || []).join(" "), e.ts != null && ago(e.ts)]),
    );

  // --- refresh ----------------------------------------------------------------

  function showError(error) {
    const status = $("#status");
    status.classList.add("error");
    status.textContent = isAuthError(error)
      ? "This server requires an API key: enter a read key above."
      : `Error: ${error.message}`;
  }

  let refreshing = false;

  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const market = loadTickers().then(() => Promise.all([loadChart(false), loadTape()]));
      const results = await Promise.allSettled([loadDemo(), loadAlerts(), loadCollectors(), market, loadNews(), loadCatalysts()]);
      const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
      if (failed.length) {
        showError(failed.find(isAuthError) || failed[0]);
      } else {
        $("#status").classList.remove("error");
        $("#status").textContent = `updated ${new Date().toLocaleTimeString()}`;
      }
    } finally {
      refreshing = false;
    }
  }

  function start() {
    const keyInput = $("#api-key");
    keyInput.value = localStorage.getItem(KEY_STORAGE) || "";
    $("#key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = keyInput.value.trim();
      if (key) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
      refresh();
    });
    $("#exchange").addEventListener("change", (event) => {
      selection.exchange = event.target.value;
      selection.symbol = undefined;
      fillMarketSelects();
      saveSelection();
      marketChanged();
    });
    for (const id of ["#symbol", "#timeframe"]) {
      $(id).addEventListener("change", (event) => {
        selection[event.target.id] = event.target.value;
        saveSelection();
        markSelectedTicker();
        marketChanged();
      });
    }
    createChart();
    fillMarketSelects();
    live.connect();
    refresh();
    setInterval(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
