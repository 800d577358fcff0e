// Opens a node's index page in headless Chromium and reports what the page says.
// Usage: node smoke.mjs http://127.0.0.1:PORT/
import { launch } from './launch.mjs';

const url = process.argv[2];
const browser = await launch();
try {
  const page = await browser.newPage();
  const response = await page.goto(url);
  const text = await page.textContent('body');
  await page.screenshot({ path: `${process.env.SCREENSHOT_DIR || '.'}/smoke.png` });
  console.log(JSON.stringify({ status: response.status(), text }));
} finally {
  await browser.close();
}
