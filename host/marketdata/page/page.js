// The live page's logic: one WebSocket to /ws, one symbol at a time.
// Prices arrive as integers in 1/10000 units (docs/marketdata.md, "WebSocket").
"use strict";

const LEVELS = 10;          // price levels shown per side
const TRADES_SHOWN = 20;    // rows of the trades table
const POINTS = 300;         // trade prices kept for the chart

const select = document.getElementById("symbol");
const statusLine = document.getElementById("status");
let socket = null;
let current = null;
let prices = [];            // [trade price, ...] of `current`, oldest first
let trades = [];            // newest first

function price(units) { return (units / 10000).toFixed(2); }

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(cells, className) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  cells.forEach(td => tr.appendChild(td));
  return tr;
}

function showLadder(msg) {
  const body = document.querySelector("#ladder tbody");
  const rows = [];
  msg.asks.slice().reverse().forEach(([p, qty, orders]) =>
    rows.push(row([cell(orders), cell(qty), cell(price(p), "price")], "ask")));
  msg.bids.forEach(([p, qty, orders], index) =>
    rows.push(row([cell(orders), cell(qty), cell(price(p), "price")],
                  index === 0 ? "bid spread" : "bid")));
  body.replaceChildren(...rows);
  const bid = msg.bids[0], ask = msg.asks[0];
  document.getElementById("l1").textContent =
    (bid ? `${bid[1]} @ ${price(bid[0])}` : "no bid") + "  ×  " +
    (ask ? `${ask[1]} @ ${price(ask[0])}` : "no offer") +
    (msg.state === "H" ? "  (halted)" : "");
}

function showTrades(msg) {
  msg.trades.forEach(t => { trades.unshift(t); prices.push(t.price); });
  trades = trades.slice(0, TRADES_SHOWN);
  prices = prices.slice(-POINTS);
  const body = document.querySelector("#trades tbody");
  body.replaceChildren(...trades.map(t =>
    row([cell(price(t.price)), cell(t.qty), cell(t.aggressor === "B" ? "buy" : "sell", t.aggressor)])));
  drawChart();
}

function drawChart() {
  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (prices.length < 1) return;
  const low = Math.min(...prices), high = Math.max(...prices);
  const span = Math.max(high - low, 1), pad = 20;
  const x = i => pad + (canvas.width - 2 * pad) * (prices.length > 1 ? i / (prices.length - 1) : 0.5);
  const y = p => canvas.height - pad - (canvas.height - 2 * pad) * (p - low) / span;
  ctx.strokeStyle = "#36c";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  prices.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p)) : ctx.moveTo(x(i), y(p))));
  ctx.stroke();
  ctx.fillStyle = "#777";
  ctx.fillText(price(high), 2, pad - 6);
  ctx.fillText(price(low), 2, canvas.height - 4);
}

function choose(symbol) {
  if (current) socket.send(JSON.stringify({op: "unsubscribe", symbol: current}));
  current = symbol;
  prices = [];
  trades = [];
  socket.send(JSON.stringify({op: "subscribe", symbol, channels: ["l2", "trades"], depth: LEVELS}));
}

function connect() {
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(url);
  socket.onmessage = event => {
    const msg = JSON.parse(event.data);
    if (msg.type === "hello") {
      select.replaceChildren(...msg.symbols.map(name => new Option(name, name)));
      const wanted = new URLSearchParams(location.search).get("symbol");
      const symbol = msg.symbols.includes(wanted) ? wanted : (current || msg.symbols[0]);
      select.value = symbol;
      current = null;
      choose(symbol);
      statusLine.textContent = "live";
    } else if (msg.symbol !== current) {
      return;                      // a late message about the symbol left behind
    } else if (msg.type === "l2") {
      showLadder(msg);
    } else if (msg.type === "trades") {
      showTrades(msg);
    } else if (msg.type === "error") {
      statusLine.textContent = `error: ${msg.error}`;
    }
  };
  socket.onclose = () => {
    statusLine.textContent = "disconnected; reconnecting…";
    setTimeout(connect, 1000);
  };
}

select.addEventListener("change", () => choose(select.value));
connect();
