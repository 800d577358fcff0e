// Opens a node's status page (internal port) in headless Chromium, waits for it to update
// itself a few times, and reports what it shows: the numbers, the tables, and whether the
// charts drew lines. Saves status.png in SCREENSHOT_DIR.
// Usage: node status.mjs http://127.0.0.1:PORT/status UPDATES
import { launch } from './launch.mjs';

const url = process.argv[2];
const updates = Number(process.argv[3] || 3);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  const failed = [];
  page.on('requestfailed', (request) => failed.push(request.url()));
  const outside = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(new URL(url).origin)) outside.push(request.url());
  });
  const response = await page.goto(url);
  await page.waitForFunction((n) => Number(document.body.dataset.updates || 0) >= n, updates,
    { timeout: 20000 });
  const first = await page.evaluate(() => Number(document.getElementById('chart-fps').dataset.samples));
  // One more update after that: the charts must grow by themselves.
  const seen = await page.evaluate(() => Number(document.body.dataset.updates));
  await page.waitForFunction((n) => Number(document.body.dataset.updates) > n, seen, { timeout: 10000 });
  const shown = await page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent.trim();
    // How many pixels of a chart are painted in its line's colour, roughly.
    const painted = (id, rgb) => {
      const canvas = document.getElementById(id);
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        const near = Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]);
        if (data[i + 3] > 200 && near < 60) count++;
      }
      return count;
    };
    const rows = (id) => [...document.querySelectorAll(`#${id} tr`)].map(
      (tr) => [...tr.children].map((td) => td.textContent.trim()));
    return {
      node: text('node'),
      state: text('state'),
      uptime: text('uptime'),
      connections: text('connections'),
      channels: text('channels'),
      fps: text('fps'),
      framesIn: text('frames-in'),
      framesOut: text('frames-out'),
      processes: rows('processes'),
      links: rows('links'),
      connectionSamples: Number(document.getElementById('chart-connections').dataset.samples),
      fpsSamples: Number(document.getElementById('chart-fps').dataset.samples),
      connectionsPainted: painted('chart-connections', [0x2f, 0x6f, 0xde]),
      fpsPainted: painted('chart-fps', [0xd9, 0x82, 0x2b]),
      error: text('error'),
      title: document.title,
    };
  });
  await page.screenshot({ path: `${process.env.SCREENSHOT_DIR || '.'}/status.png` });
  console.log(JSON.stringify({ status: response.status(), firstSamples: first, failed, outside, ...shown }));
} finally {
  await browser.close();
}
