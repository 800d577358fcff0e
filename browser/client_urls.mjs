// switchboard.js given two URLs of one node, in headless Chromium: it registers at the first,
// and when that node goes away it moves to the second, asks for what it missed since the
// last id it saw, and shows every message once; a token every URL refuses closes a client. Steps are JSON lines on stdout; at the step
// "said" it waits for a line on stdin while the test stops the first node and starts the
// second. Usage: node client_urls.mjs PAGE_URL TOKEN FIRST_WS_URL SECOND_WS_URL
import { createInterface } from 'node:readline';
import { launch } from './launch.mjs';

const [pageUrl, token, first, second] = process.argv.slice(2);
const LIMIT = 20000;
const input = createInterface({ input: process.stdin });
const goAheads = input[Symbol.asyncIterator]();

async function step(name) {
  console.log(JSON.stringify({ step: name }));
  await goAheads.next();
}

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(pageUrl);
  await page.evaluate(
    async ({ token, urls }) => {
      const { Client } = await import('/switchboard.js');
      window.seen = []; // every message received, repeats included: [id, text]
      window.states = []; // [state, url]
      window.mover = new Client({
        process: 'chat:chat:sys',
        token,
        urls,
        backoff: { initial: 100, max: 1000 },
        onMessage(data) {
          let event;
          try {
            event = JSON.parse(data);
          } catch {
            return;
          }
          const messages = event.type === 'message' ? [event] : event.type === 'history' ? event.messages : [];
          for (const m of messages) window.seen.push([m.id, m.text]);
        },
        onState(state, detail) {
          window.states.push([state, detail.url ?? null]);
        },
        resume(lastSeenId, reconnected) {
          return reconnected ? { type: 'history', since: lastSeenId } : { type: 'history' };
        },
      }).start();
    },
    { token, urls: [first, second] },
  );
  const seenText = (text) =>
    page.waitForFunction((t) => window.seen.some(([, said]) => said === t), text, { timeout: LIMIT });
  const say = (text) => page.evaluate((t) => window.mover.sendJson({ type: 'say', text: t }), text);

  await page.waitForFunction(() => window.mover.state === 'connected', null, { timeout: LIMIT });
  await say('before');
  await seenText('before');
  await step('said');
  await page.waitForFunction(
    (url) => window.mover.state === 'connected' && window.mover.url === url,
    second,
    { timeout: LIMIT },
  );
  await seenText('while you were away');
  await say('after');
  await seenText('after');
  // A token every URL refuses (the second node, given twice): each is asked once, then the
  // client closes with the refusal. Before any registration each socket opening is
  // announced as 'connecting'.
  const refused = await page.evaluate(
    async ({ urls }) => {
      const { Client } = await import('/switchboard.js');
      return await new Promise((resolve) => {
        const opened = [];
        new Client({
          process: 'chat:chat:sys',
          token: 'forged',
          urls,
          backoff: { initial: 50, max: 200 },
          onState(state, detail) {
            if (state === 'connecting') opened.push(detail.url);
            if (state === 'closed') resolve({ opened, error: detail.error });
          },
        }).start();
      });
    },
    { urls: [second, second] },
  );
  const result = await page.evaluate(() => ({
    seen: window.seen,
    states: window.states,
    registrations: window.mover.registrations,
  }));
  result.refused = refused;
  console.log(JSON.stringify({ step: 'done', ...result }));
} finally {
  input.close();
  await browser.close();
}
