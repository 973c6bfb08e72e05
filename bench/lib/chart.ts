// Line charts as SVG (no chart package), and a PNG of them taken by Debian's Chromium.
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

export interface Series {
  name: string;
  colour: string;
  points: Array<[number, number]>;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
}

const W = 420;
const H = 300;
const M = { left: 62, right: 16, top: 34, bottom: 74 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panelSvg(p: Panel, x0: number): string {
  const xs = p.series.flatMap((s) => s.points.map(([x]) => x));
  const ys = p.series.flatMap((s) => s.points.map(([, y]) => y));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMax = niceMax(Math.max(...ys) * 1.05);
  const fx = (x: number): number => {
    const t = p.logX
      ? (Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin) || 1)
      : (x - xMin) / (xMax - xMin || 1);
    return x0 + M.left + t * (W - M.left - M.right);
  };
  const fy = (y: number): number => M.top + (1 - y / yMax) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(
    `<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600">${esc(p.title)}</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    out.push(
      `<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${fy(y)}" y2="${fy(y)}" stroke="#e5e5e5"/>`,
      `<text x="${x0 + M.left - 6}" y="${fy(y) + 4}" text-anchor="end" font-size="11">${Number(y.toPrecision(3))}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b))
    out.push(`<text x="${fx(x)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${x}</text>`);
  out.push(
    `<line x1="${x0 + M.left}" x2="${x0 + M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<text x="${x0 + M.left + (W - M.left - M.right) / 2}" y="${H - M.bottom + 34}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`,
    `<text transform="translate(${x0 + 16} ${M.top + (H - M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`,
  );
  p.series.forEach((s, i) => {
    const d = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
    );
    for (const [x, y] of s.points) out.push(`<circle cx="${fx(x)}" cy="${fy(y)}" r="3" fill="${s.colour}"/>`);
    const lx = x0 + M.left + (i % 2) * 170;
    const ly = H - 20 + Math.floor(i / 2) * 14;
    out.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
      `<text x="${lx + 22}" y="${ly}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  return out.join('\n');
}

/** Panels side by side, with a caption under them. */
export function renderSvg(panels: Panel[], caption: string): string {
  const width = W * panels.length;
  const height = H + 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>
${panels.map((p, i) => panelSvg(p, i * W)).join('\n')}
<text x="8" y="${height - 6}" font-size="10" fill="#555">${esc(caption)}</text>
</svg>
`;
}

/** Writes the SVG and a PNG screenshot of it (Debian's Chromium, headless). */
export async function writeChart(svg: string, svgPath: string, pngPath: string): Promise<void> {
  writeFileSync(svgPath, svg);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const m = svg.match(/width="(\d+)" height="(\d+)"/);
    const page = await browser.newPage({ viewport: { width: Number(m?.[1] ?? 800), height: Number(m?.[2] ?? 400) } });
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    await page.locator('svg').screenshot({ path: pngPath });
  } finally {
    await browser.close();
  }
}
