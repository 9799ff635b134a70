// Runs axe-core on each page given on the command line, in headless Chromium, and prints one
// JSON line per page: {"url", "status", "violations": [{"id", "impact", "help", "targets"}]}.
// Pages have no script of their own; axe is injected by the browser driver (CSP bypassed
// for the check only). With SCREENSHOTS=DIR, also saves a full-page PNG of each page. With
// SIGN_IN=URL, LOGIN and PASSWORD, signs in through the form first, as an agent would.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  const context = await browser.newContext({ bypassCSP: true, locale: "fr-FR" });
  const page = await context.newPage();
  if (process.env.SIGN_IN) {
    await page.goto(process.env.SIGN_IN);
    await page.fill("#login", process.env.LOGIN);
    await page.fill("#password", process.env.PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  }
  for (const [index, url] of process.argv.slice(2).entries()) {
    // A file (a page the CLI wrote) has no HTTP answer: it counts as 200.
    const response = await page.goto(url, { waitUntil: "load" });
    const status = response ? response.status() : url.startsWith("file:") ? 200 : 0;
    if (status === 0) {
      console.log(JSON.stringify({ url, error: "no answer" }));
      failed = true;
      continue;
    }
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => await globalThis.axe.run(document));
    const violations = result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
    console.log(JSON.stringify({ url, final: page.url(), status, violations, passes: result.passes.length }));
    if (process.env.SCREENSHOTS) {
      await page.screenshot({ path: `${process.env.SCREENSHOTS}/page-${index}.png`, fullPage: true });
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
