// The playground page: the editor, the settings pane, the results, the share link and the
// ValidatingAdmissionPolicy. Every verdict comes from bizra_playground (the plugin's own lint,
// compiled to WebAssembly); this file only moves text in and out of it.
//
// A fault of the input (settings that cannot be read) is an Error the module throws. A bug in
// the module (a panic) aborts it with a WebAssembly.RuntimeError: the page then says so, clears
// what it showed, and starts a fresh instance for the next evaluation.

const $ = (id) => document.getElementById(id);
const manifest = $('manifest');
const settings = $('settings');
const gutter = $('gutter');
const exampleSelect = $('example');
const FILE = 'manifest.yaml';

// What the page measured, for the browser test and the benchmarks. firstVerdictMs counts from
// the start of the navigation (performance.now()'s origin), so it includes every download.
window.bizraPlayground = {
  ready: false, firstVerdictMs: null, lastEvaluationMs: null, evaluations: 0, instances: 0, report: null, state: 'loading',
};
const page = window.bizraPlayground;

// The module's functions; replaced by a fresh instance after an internal error.
let engine = null;

async function loadEngine() {
  // Each import of a URL of its own is a module (and a WebAssembly instance) of its own.
  const glue = await import(page.instances === 0 ? './bizra_playground.js' : `./bizra_playground.js?instance=${page.instances}`);
  await glue.default();
  page.instances += 1;
  return glue;
}

class InternalError extends Error {}

/// Calls into the module; an abort (a panic) becomes an InternalError after the next instance is
/// on its way, any other throw is the input's fault and is passed on.
function guarded(call) {
  try {
    return call(engine);
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) {
      const broken = engine;
      engine = null;
      loadEngine().then((fresh) => {
        if (engine === null || engine === broken) engine = fresh;
      });
      throw new InternalError(`the rules stopped on an internal error (${error.message}); the browser console has the details`);
    }
    throw error;
  }
}

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

/// Puts the caret at `line` and `column` (from 1) and scrolls there.
function goTo(line, column = 1) {
  const lines = manifest.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
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

function clearResults(state, summary) {
  $('results').tBodies[0].replaceChildren();
  $('problem-list').replaceChildren();
  $('problems').hidden = true;
  $('skipped-list').replaceChildren();
  $('skipped').hidden = true;
  $('results').dataset.state = state;
  $('summary').textContent = summary;
  page.report = null;
  page.state = state;
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
      text('td', f.field),
    );
    const line = f.fieldLine ?? f.line;
    const lineCell = document.createElement('td');
    const go = text('button', String(line), { type: 'button', class: 'line', 'aria-label': `Go to line ${line}` });
    go.addEventListener('click', () => goTo(line, f.fieldColumn ?? 1));
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
  const state = report.findings.length === 0 && report.errors.length === 0 ? 'pass' : 'fail';
  $('results').dataset.state = state;
  page.report = report;
  page.state = state;
}

function settingsFault(message) {
  $('settings-error').textContent = message ?? '';
  $('settings-error').hidden = message === null;
  settings.setAttribute('aria-invalid', message === null ? 'false' : 'true');
}

function evaluate() {
  if (engine === null) {
    clearResults('error', 'The rules are restarting after an internal error; edit to try again.');
    return;
  }
  const t0 = performance.now();
  let report;
  try {
    report = JSON.parse(guarded((m) => m.lint(FILE, manifest.value, settings.value)));
  } catch (error) {
    if (error instanceof InternalError) {
      settingsFault(null);
      clearResults('error', `No results: ${error.message}.`);
    } else {
      settingsFault(`The settings cannot be read: ${error.message ?? error}`);
      clearResults('error', 'The settings cannot be read; fix them to see results.');
    }
    return;
  }
  settingsFault(null);
  page.lastEvaluationMs = performance.now() - t0;
  page.evaluations += 1;
  showReport(report);
  if (page.firstVerdictMs === null) page.firstVerdictMs = performance.now();
}

function showVap() {
  try {
    $('vap').textContent = guarded((m) => m.vap(settings.value, $('vap-action').value));
  } catch (error) {
    $('vap').textContent = `# ${error.message ?? error}`;
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

function shareStatus(message) {
  $('share-status').textContent = message;
}

/// The manifest and settings of a share link in the fragment; `undefined` when there is none,
/// `null` (and the reason said) when it cannot be read.
async function fromFragment() {
  const match = /(?:^#|&)s=([^&]*)/.exec(location.hash);
  if (!match) return undefined;
  try {
    const value = await unpack(match[1]);
    if (typeof value.manifest === 'string' && typeof value.settings === 'string') return value;
    throw new Error('it holds no manifest and settings');
  } catch (error) {
    shareStatus(`The shared link cannot be read (${error.message ?? error}); showing what was here before.`);
  }
  return null;
}

/// A link's content replaces the page's; the fragment stays only while the page shows it.
async function openShared() {
  const shared = await fromFragment();
  if (!shared) return shared;
  manifest.value = shared.manifest;
  settings.value = shared.settings;
  exampleSelect.value = '';
  shareStatus('Showing a shared link.');
  updateGutter();
  evaluate();
  showVap();
  return shared;
}

function forgetFragment() {
  if (location.hash) {
    history.replaceState(null, '', location.pathname + location.search);
    shareStatus('');
  }
}

async function copy(what, content) {
  try {
    await navigator.clipboard.writeText(content);
    $('copy-status').textContent = `${what} copied.`;
  } catch (error) {
    $('copy-status').textContent = `${what} could not be copied (${error.message ?? error}); select it and copy by hand.`;
  }
}

async function main() {
  engine = await loadEngine();
  const list = JSON.parse(engine.examples());
  list.forEach((example, i) => exampleSelect.append(text('option', example.name, { value: String(i) })));
  manifest.value = list[1].manifest;
  exampleSelect.value = '1';
  settings.value = engine.shipped_settings();
  updateGutter();
  const shared = await openShared();
  if (!shared) {
    evaluate();
    showVap();
  }

  manifest.addEventListener('input', () => {
    exampleSelect.value = '';
    forgetFragment();
    updateGutter();
    schedule();
  });
  manifest.addEventListener('scroll', () => { gutter.scrollTop = manifest.scrollTop; });
  settings.addEventListener('input', () => {
    forgetFragment();
    schedule();
    showVap();
  });
  exampleSelect.addEventListener('change', () => {
    if (exampleSelect.value === '') return;
    forgetFragment();
    manifest.value = list[Number(exampleSelect.value)].manifest;
    updateGutter();
    evaluate();
  });
  $('reset-settings').addEventListener('click', () => {
    forgetFragment();
    settings.value = engine ? engine.shipped_settings() : settings.value;
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
    shareStatus('The link holds what the page shows now.');
    $('share-link').select();
  });
  window.addEventListener('hashchange', () => { openShared(); });
  $('copy-link').addEventListener('click', () => copy('The link', $('share-link').value));
  $('copy-vap').addEventListener('click', () => copy('The policy', $('vap').textContent));
  page.evaluate = evaluate;
  page.internalErrorForTests = () => {
    try {
      guarded((m) => m.internal_error_for_tests());
    } catch (error) {
      clearResults('error', `No results: ${error.message}.`);
      return error instanceof InternalError;
    }
    return false;
  };
  page.ready = true;
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('./sw.js').catch(() => {});
  }
}

main().catch((error) => {
  $('summary').textContent = `The playground could not start: ${error.message ?? error}`;
  page.state = 'error';
});
