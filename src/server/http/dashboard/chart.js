// A line chart of message rates on a canvas: a few series over time, nice axis steps, a time
// axis in minutes ago. Small on purpose: the dashboard loads nothing from elsewhere.

/** A step of 1, 2 or 5 times a power of ten, so that about `ticks` steps cover `max`. */
function niceStep(max, ticks) {
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * pow;
}

function shortNumber(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n % 1e6 === 0 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n % 1e3 === 0 ? 0 : 1)}k`;
  return String(Math.round(n * 100) / 100);
}

/** Where to put time labels: a step in ms and how to write one. */
function timeTicks(spanMs) {
  for (const [step, fmt] of [
    [5_000, (ms) => `-${ms / 1000}s`],
    [15_000, (ms) => `-${ms / 1000}s`],
    [30_000, (ms) => `-${ms / 1000}s`],
    [60_000, (ms) => `-${ms / 60_000}m`],
    [120_000, (ms) => `-${ms / 60_000}m`],
    [600_000, (ms) => `-${ms / 60_000}m`],
  ]) {
    if (spanMs / step <= 6) return { step, fmt };
  }
  return { step: 3_600_000, fmt: (ms) => `-${ms / 3_600_000}h` };
}

/**
 * Draws `series` ([{ label, color, points: [{ t, v }] }], t in ms) on `canvas`, up to `now` and
 * back over the history there is (at least 30 s, at most `maxSpanMs`).
 */
export function drawChart(canvas, series, { now = Date.now(), maxSpanMs = 600_000, unit = 'msg/s' } = {}) {
  let oldest = now;
  for (const s of series) for (const p of s.points) if (p.t < oldest) oldest = p.t;
  const spanMs = Math.min(maxSpanMs, Math.max(30_000, now - oldest));
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pad = { left: 52, right: 12, top: 12, bottom: 24 };
  const pw = w - pad.left - pad.right;
  const ph = h - pad.top - pad.bottom;
  const from = now - spanMs;
  let max = 0;
  for (const s of series) for (const p of s.points) if (p.t >= from && p.v > max) max = p.v;
  const step = niceStep(max > 0 ? max : 1, 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const x = (t) => pad.left + ((t - from) / spanMs) * pw;
  const y = (v) => pad.top + ph - (v / top) * ph;

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#6b7385';
  g.strokeStyle = '#e6e9ef';
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (let v = 0; v <= top + step / 2; v += step) {
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath();
    g.moveTo(pad.left, yy);
    g.lineTo(w - pad.right, yy);
    g.stroke();
    g.fillText(shortNumber(v), pad.left - 6, yy);
  }
  g.textAlign = 'center';
  g.textBaseline = 'top';
  const { step: tstep, fmt } = timeTicks(spanMs);
  for (let ago = 0; ago <= spanMs; ago += tstep) g.fillText(ago === 0 ? 'now' : fmt(ago), x(now - ago), pad.top + ph + 6);
  g.save();
  g.translate(12, pad.top + ph / 2);
  g.rotate(-Math.PI / 2);
  g.fillText(unit, 0, -8);
  g.restore();

  g.lineWidth = 2;
  g.lineJoin = 'round';
  for (const s of series) {
    const pts = s.points.filter((p) => p.t >= from);
    if (pts.length === 0) continue;
    g.strokeStyle = s.color;
    g.beginPath();
    pts.forEach((p, i) => (i === 0 ? g.moveTo(x(p.t), y(p.v)) : g.lineTo(x(p.t), y(p.v))));
    g.stroke();
  }
}

/**
 * Rates between consecutive counter samples (`[{ sample, timestamp }]`, newest first, as the
 * API's `*_details.samples`): the points of one series.
 */
export function ratesOf(samples) {
  const asc = [...samples].reverse();
  const out = [];
  for (let i = 1; i < asc.length; i++) {
    const dt = (asc[i].timestamp - asc[i - 1].timestamp) / 1000;
    if (dt > 0) out.push({ t: asc[i].timestamp, v: Math.max(0, (asc[i].sample - asc[i - 1].sample) / dt) });
  }
  return out;
}
