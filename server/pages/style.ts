/** The pages' one stylesheet, served at /assets/style.css (the CSP allows no inline styles). */
export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #59636e; --bg: #fff; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0b5fd1;
  --high: #b42318; --medium: #b54708; --low: #475467; --ok: #067647; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --line: #3d444d; --soft: #151b23; --accent: #4493f8;
  --high: #ff7b72; --medium: #e3b341; --low: #9198a1; --ok: #3fb950; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { border-bottom: 1px solid var(--line); background: var(--soft); }
header nav, main { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header nav { display: flex; gap: 20px; align-items: center; height: 52px; }
header nav .brand { font-weight: 700; font-size: 17px; color: var(--fg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
main { padding-top: 8px; padding-bottom: 48px; }
h1 { font-size: 24px; margin: 20px 0 8px; overflow-wrap: anywhere; } h2 { font-size: 18px; margin: 28px 0 8px; }
p.lead { color: var(--muted); margin: 0 0 16px; }
table { width: 100%; border-collapse: collapse; margin: 8px 0 16px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 13px; color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
code { font-size: 13px; line-height: 1.45; } h1 code { font-size: 0.85em; } td .mono { font-size: 14px; }
pre.snippet { margin: 4px 0 0; padding: 6px 8px; background: var(--soft); border: 1px solid var(--line); border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.high { color: var(--high); } .medium { color: var(--medium); } .low { color: var(--low); }
.actionable { color: var(--high); } .suppressed { color: var(--muted); }
.completed { color: var(--ok); } .partial { color: var(--medium); } .failed { color: var(--high); } .queued, .running { color: var(--accent); }
.muted { color: var(--muted); }
.deleted { color: var(--medium); font-weight: 600; }
form.scan { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; padding: 14px; border: 1px solid var(--line); border-radius: 6px; background: var(--soft); margin: 12px 0 20px; }
form.scan label { display: flex; flex-direction: column; font-size: 13px; color: var(--muted); gap: 3px; }
input[type=text], input[type=password] { font: 14px ui-monospace, Menlo, Consolas, monospace; padding: 7px 9px; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
input.reference { width: 460px; max-width: 100%; }
button { font: inherit; font-weight: 600; padding: 7px 16px; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
.error { padding: 10px 14px; border: 1px solid var(--high); color: var(--high); border-radius: 6px; margin: 12px 0; overflow-wrap: anywhere; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0 16px; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; overflow-wrap: anywhere; }
.tabs { display: flex; gap: 14px; margin: 4px 0; font-size: 14px; } .tabs .current { font-weight: 700; color: var(--fg); }
.pager { display: flex; gap: 16px; font-size: 14px; }
`
