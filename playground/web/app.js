// The playground page: the editor, the settings pane, the results, the share link and the
// ValidatingAdmissionPolicy. Every verdict comes from bizra_playground (the plugin's own lint,
// compiled to WebAssembly); this file only moves text in and out of it.
import init, { examples, lint, shipped_settings, vap } from './bizra_playground.js';

const started = performance.now();
const $ = (id) => document.getElementById(id);
const manifest = $('manifest');
const settings = $('settings');
const gutter = $('gutter');
const exampleSelect = $('example');
const FILE = 'manifest.yaml';

// What the page measured, for the browser test and the benchmarks.
window.bizraPlayground = { ready: false, firstVerdictMs: null, lastEvaluationMs: null, evaluations: 0 };

function text(tag, content, attributes = {}) {
  const node = document.createElement(tag);
  node.textContent = content;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function updateGutter() {
  const lines = manifest.value.split(/\r\n|\r|\n/).length;
  let numbers = '';
  for (let i = 1; i <= lines; i++) numbers += i + '\n';
  gutter.textContent = numbers;
  gutter.scrollTop = manifest.scrollTop;
}

/// Puts the caret at the start of `line` (from 1) and scrolls there.
function goToLine(line) {
  const lines = manifest.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  manifest.focus();
  manifest.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(manifest).lineHeight) || 18;
  manifest.scrollTop = Math.max(0, (line - 3) * lineHeight);
  updateGutter();
}

function containerLabel(finding) {
  if (!finding.container) return '(pod)';
  const kind = { container: 'container', initContainer: 'init container', ephemeralContainer: 'ephemeral container' }[finding.containerKind] || finding.containerKind;
  return `${kind} ${finding.container}`;
}

function place(item) {
  const parts = [];
  if (item.document !== undefined) parts.push(`document ${item.document}`);
  if (item.line !== undefined) parts.push(`line ${item.line}`);
  if (item.column !== undefined) parts.push(`column ${item.column}`);
  if (item.field !== undefined) parts.push(item.field);
  return parts.join(', ');
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function showReport(report) {
  const body = $('results').tBodies[0];
  body.replaceChildren();
  for (const f of report.findings) {
    const row = document.createElement('tr');
    row.append(
      text('td', `${f.kind}/${f.name}`),
      text('td', containerLabel(f)),
      text('td', f.rule),
      text('td', f.message),
    );
    const lineCell = document.createElement('td');
    const go = text('button', String(f.line), { type: 'button', class: 'line', 'aria-label': `Go to line ${f.line}` });
    go.addEventListener('click', () => goToLine(f.line));
    lineCell.append(go);
    row.append(lineCell);
    body.append(row);
  }
  const problems = $('problem-list');
  problems.replaceChildren(...report.errors.map((e) => text('li', `${place(e)}: ${e.message}`)));
  $('problems').hidden = report.errors.length === 0;
  const skipped = $('skipped-list');
  skipped.replaceChildren(...report.skipped.map((s) => text('li', `line ${s.line}: ${s.kind || '(no kind)'}/${s.name}: ${s.reason}`)));
  $('skipped').hidden = report.skipped.length === 0;
  let summary = `${plural(report.workloads, 'workload')} checked: `;
  summary += report.findings.length === 0 ? 'no violations' : plural(report.findings.length, 'violation');
  if (report.errors.length > 0) summary += `, ${plural(report.errors.length, 'input')} that cannot be read`;
  if (report.workloads === 0 && report.errors.length === 0) summary = 'No workload found: nothing carries a pod template.';
  $('summary').textContent = summary;
  $('results').dataset.state = report.findings.length === 0 && report.errors.length === 0 ? 'pass' : 'fail';
}

function evaluate() {
  const t0 = performance.now();
  let report;
  try {
    report = JSON.parse(lint(FILE, manifest.value, settings.value));
    $('settings-error').hidden = true;
  } catch (error) {
    $('settings-error').textContent = String(error);
    $('settings-error').hidden = false;
    $('summary').textContent = 'The settings cannot be read; fix them to see results.';
    return;
  }
  const state = window.bizraPlayground;
  state.lastEvaluationMs = performance.now() - t0;
  state.evaluations += 1;
  showReport(report);
  if (state.firstVerdictMs === null) state.firstVerdictMs = performance.now() - started;
  state.report = report;
}

function showVap() {
  try {
    $('vap').textContent = vap(settings.value, $('vap-action').value);
  } catch (error) {
    $('vap').textContent = `# ${error}`;
  }
}

let pending = 0;
function schedule() {
  if (pending) return;
  pending = requestAnimationFrame(() => {
    pending = 0;
    evaluate();
  });
}

// The share link: manifest and settings as JSON, deflated, base64url, in the fragment.
async function pack(value) {
  const stream = new Blob([JSON.stringify(value)]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

async function unpack(packed) {
  const binary = atob(packed.replaceAll('-', '+').replaceAll('_', '/'));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return JSON.parse(await new Response(stream).text());
}

async function fromFragment() {
  const match = /(?:^#|&)s=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!match) return null;
  try {
    const value = await unpack(match[1]);
    if (typeof value.manifest === 'string' && typeof value.settings === 'string') return value;
  } catch (error) {
    $('summary').textContent = `The shared link cannot be read (${error}); showing an example.`;
  }
  return null;
}

async function main() {
  await init();
  const list = JSON.parse(examples());
  list.forEach((example, i) => exampleSelect.append(text('option', example.name, { value: String(i) })));
  const shared = await fromFragment();
  if (shared) {
    manifest.value = shared.manifest;
    settings.value = shared.settings;
  } else {
    manifest.value = list[1].manifest;
    exampleSelect.value = '1';
    settings.value = shipped_settings();
  }
  updateGutter();
  evaluate();
  showVap();

  manifest.addEventListener('input', () => {
    exampleSelect.value = '';
    updateGutter();
    schedule();
  });
  manifest.addEventListener('scroll', () => { gutter.scrollTop = manifest.scrollTop; });
  settings.addEventListener('input', () => {
    schedule();
    showVap();
  });
  exampleSelect.addEventListener('change', () => {
    if (exampleSelect.value === '') return;
    manifest.value = list[Number(exampleSelect.value)].manifest;
    updateGutter();
    evaluate();
  });
  $('reset-settings').addEventListener('click', () => {
    settings.value = shipped_settings();
    evaluate();
    showVap();
  });
  $('vap-action').addEventListener('change', showVap);
  $('share').addEventListener('click', async () => {
    const packed = await pack({ manifest: manifest.value, settings: settings.value });
    const link = new URL(location.href);
    link.hash = `s=${packed}`;
    $('share-link').value = link.href;
    history.replaceState(null, '', link.href);
    $('share-link').select();
  });
  $('copy-link').addEventListener('click', () => navigator.clipboard?.writeText($('share-link').value));
  $('copy-vap').addEventListener('click', () => navigator.clipboard?.writeText($('vap').textContent));
  window.bizraPlayground.evaluate = evaluate;
  window.bizraPlayground.ready = true;
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('./sw.js').catch(() => {});
  }
}

main().catch((error) => {
  $('summary').textContent = `The playground could not start: ${error}`;
});
