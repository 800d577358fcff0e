// The chat page in headless Chromium: two pages chat, a whisper reaches only its target, a
// reloaded page shows the history, a page whose socket is cut reconnects and shows what it
// missed, binary frames arrive as ArrayBuffer, and a visitor with no cookie is sent to login.
// Usage: node chat.mjs http://127.0.0.1:PORT TOKEN NODE
import { launch } from './launch.mjs';

const [base, token, node] = process.argv.slice(2);
const shots = process.env.SCREENSHOT_DIR || '.';
const LIMIT = 10000;
const result = {};

const logText = (page) => page.$$eval('#log li', (items) => items.map((li) => li.textContent));
const waitForLine = (page, text) =>
  page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(t)),
    text,
    { timeout: LIMIT },
  );
const waitForStatus = (page, state) =>
  page.waitForFunction((s) => document.getElementById('status').className === s, state, { timeout: LIMIT });
async function say(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}
async function open(context) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${base}/chat`);
  await page.waitForFunction(() => document.getElementById('me').textContent !== '', null, { timeout: LIMIT });
  return page;
}

const browser = await launch();
try {
  // No cookie: sent to the login page first.
  const stranger = await browser.newContext();
  const lost = await stranger.newPage();
  const first = await lost.goto(`${base}/chat`);
  result.redirect = { url: lost.url(), chain: first.request().redirectedFrom()?.url() ?? null };
  await stranger.close();

  const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
  await context.addCookies([{ name: `kinode-auth_${node}`, value: token, url: base }]);

  const a = await open(context);
  const b = await open(context);
  result.names = [await a.textContent('#me'), await b.textContent('#me')];

  // Two pages chat.
  await say(a, 'hello from a');
  await waitForLine(b, '[user1]: hello from a');
  await say(b, 'hi a, b here');
  await waitForLine(a, '[user2]: hi a, b here');
  result.chatA = await logText(a);

  // A whisper reaches only its target.
  const c = await open(context);
  await say(a, '/whisper user2 a secret for b');
  await waitForLine(b, '[whisper from user1]: a secret for b');
  await waitForLine(a, '[whisper to user2]: a secret for b');
  await say(a, 'after the whisper');
  await waitForLine(c, '[user1]: after the whisper');
  result.whisperB = (await logText(b)).filter((l) => l.includes('secret'));
  result.whisperC = (await logText(c)).filter((l) => l.includes('secret'));
  await a.screenshot({ path: `${shots}/chat-two-pages.png` });

  // A reloaded page shows the history.
  await b.reload();
  await waitForLine(b, '[user1]: hello from a');
  result.afterReload = await logText(b);

  // A cut socket reconnects, takes its chosen name back, and shows what it missed.
  await say(b, '/name bee');
  await b.waitForFunction(() => document.getElementById('me').textContent === 'bee', null, { timeout: LIMIT });
  await b.evaluate(() => window.chat.client.cut({ hold: true }));
  await waitForStatus(b, 'disconnected');
  await say(a, 'while b was away');
  await waitForLine(a, '[user1]: while b was away');
  result.missedBeforeResume = (await logText(b)).some((l) => l.includes('while b was away'));
  await b.evaluate(() => window.chat.client.release());
  await waitForStatus(b, 'connected');
  await waitForLine(b, '[user1]: while b was away');
  await b.waitForFunction(() => document.getElementById('me').textContent === 'bee', null, { timeout: LIMIT });
  result.nameAfterCut = await b.textContent('#me');
  result.afterCut = await logText(b);
  result.registrationsB = await b.evaluate(() => window.chat.client.registrations);
  await b.screenshot({ path: `${shots}/chat-after-reconnect.png` });

  // Binary frames arrive as ArrayBuffer.
  result.binary = await a.evaluate(async () => {
    const { Client } = await import('/switchboard.js');
    return await new Promise((resolve, reject) => {
      const echo = new Client({
        process: 'echo:echo:sys',
        onMessage(data) {
          resolve({ isArrayBuffer: data instanceof ArrayBuffer, bytes: [...new Uint8Array(data)] });
          echo.close();
        },
        onState(state, detail) {
          if (state === 'closed' && detail.error) reject(new Error(detail.error.message));
        },
      }).start();
      echo.send(new Uint8Array([1, 2, 250]));
    });
  });

  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
