// The Nova Chaos dashboard: a buildless Preact + htm page over the controller's REST API (same origin). A login
// opens a session (an HttpOnly cookie); every request carries X-Nova-Csrf, which a cross-site form cannot set.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);

/** Called when the API answers 401: the session ended (logout elsewhere, expiry); the page shows the login. */
let onUnauthenticated = () => {};

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { 'x-nova-csrf': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== '/api/v1/session') onUnauthenticated();
  if (!res.ok) throw new Error(data.error + (data.issues ? `\n${data.issues.join('\n')}` : ''));
  return data;
}

/** A Schedule starts through its own route; everything else through the experiments route. */
const isSchedule = (yaml) => /^kind:\s*Schedule\s*$/m.test(yaml);

/** Polls `path` every `ms` while mounted. */
function usePoll(path, ms) {
  const [data, setData] = useState(undefined);
  useEffect(() => {
    let stopped = false;
    const tick = () =>
      api('GET', path).then(
        (d) => !stopped && setData(d),
        () => {},
      );
    tick();
    const t = setInterval(tick, ms);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [path]);
  return data;
}

function Suite({ onError }) {
  const suite = usePoll('/api/v1/suite', 30000);
  const [yaml, setYaml] = useState('');
  const start = (body) =>
    api('POST', body.yaml && isSchedule(body.yaml) ? '/api/v1/schedules' : '/api/v1/experiments', body).then(
      () => onError(''),
      (e) => onError(e.message),
    );
  return html`<section>
    <h2>Experiments of the suite</h2>
    <table>
      <tr>
        <th>Experiment</th>
        <th></th>
      </tr>
      ${(suite?.experiments ?? []).map(
        (e) =>
          html`<tr data-experiment=${e.name}>
            <td>${e.kind}/${e.name}<br /><small>${e.file}</small></td>
            <td>
              ${e.startable ? html`<button onClick=${() => start({ name: e.name })}>Start</button>` : html`<small>run with chaos run</small>`}
            </td>
          </tr>`,
      )}
    </table>
    <h2>Start from YAML</h2>
    <textarea
      id="yaml"
      rows="7"
      placeholder="apiVersion: chaos-mesh.org/v1alpha1 ..."
      value=${yaml}
      onInput=${(e) => setYaml(e.target.value)}
    ></textarea>
    <button id="start-yaml" onClick=${() => start({ yaml })}>Start YAML</button>
  </section>`;
}

function Running({ onError }) {
  const data = usePoll('/api/v1/experiments', 1000);
  const act = (method, path) =>
    api(method, path).then(
      () => onError(''),
      (e) => onError(e.message),
    );
  const live = (data?.experiments ?? []).filter((e) => e.phase !== 'recovered' && e.phase !== 'failed');
  return html`<section>
    <h2>Running experiments</h2>
    ${live.length === 0 ? html`<p><small>none</small></p>` : ''}
    <table>
      ${live.map(
        (e) =>
          html`<tr data-running=${e.name}>
            <td>
              ${e.kind}/${e.name}<br /><small
                >${e.id}${e.endsAt ? `, until ${new Date(e.endsAt).toLocaleTimeString()}` : ''}</small
              >
            </td>
            <td>
              <span class="phase ${e.phase}">${e.phase}</span
              >${e.schedule ? html` <small>of Schedule/${e.schedule}</small>` : ''}<br />${e.targets.map(
                (t) =>
                  html`<small>${t.target}: <span class=${t.phase}>${t.phase}</span></small
                    ><br />`,
              )}
              ${(e.effects ?? []).map((x) => html`<small class="effect">${x.kind}: ${x.summary}</small><br />`)}
            </td>
            <td>
              ${
                e.phase === 'paused'
                  ? html`<button onClick=${() => act('POST', `/api/v1/experiments/${e.id}/resume`)}>Resume</button>`
                  : html`<button onClick=${() => act('POST', `/api/v1/experiments/${e.id}/pause`)}>Pause</button>`
              } <button onClick=${() => act('DELETE', `/api/v1/experiments/${e.id}`)}>Stop</button>
            </td>
          </tr>`,
      )}
    </table>
  </section>`;
}

function Live() {
  const data = usePoll('/api/v1/live', 1000);
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    const series = data?.series ?? [];
    if (!canvas.current) return;
    if (!chart.current) {
      chart.current = new window.Chart(canvas.current, {
        type: 'line',
        data: {
          labels: [],
          datasets: [
            { label: 'p99 (ms)', data: [], borderColor: '#9334e6', pointRadius: 0, yAxisID: 'ms' },
            { label: 'error rate (%)', data: [], borderColor: '#d93025', pointRadius: 0, yAxisID: 'pct' },
          ],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: {
            ms: { position: 'left', min: 0 },
            pct: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false } },
          },
        },
      });
    }
    chart.current.data.labels = series.map((p) => p.t);
    chart.current.data.datasets[0].data = series.map((p) => p.p99);
    chart.current.data.datasets[1].data = series.map((p) => +(p.errorRate * 100).toFixed(2));
    chart.current.update();
  }, [data]);
  return html`<section>
    <h2>Live: p99 and error rate (last 60 s)</h2>
    ${data && data.series.length === 0 ? html`<small>no load running (start chaos up with --live-load)</small>` : ''}
    <div style="height:220px"><canvas ref=${canvas}></canvas></div>
  </section>`;
}

function Schedules({ onError }) {
  const suite = usePoll('/api/v1/suite', 30000);
  const active = usePoll('/api/v1/schedules', 1000);
  const [cron, setCron] = useState('0 3 * * 0');
  const [preview, setPreview] = useState(undefined);
  const act = (method, path, body) =>
    api(method, path, body).then(
      () => onError(''),
      (e) => onError(e.message),
    );
  const check = () =>
    api('POST', '/api/v1/schedules/preview', { schedule: cron }).then(
      (p) => {
        setPreview(p.next);
        onError('');
      },
      (e) => {
        setPreview(undefined);
        onError(e.message);
      },
    );
  return html`<section>
    <h2>Schedules of the suite</h2>
    <table>
      ${(suite?.schedules ?? []).map(
        (s) =>
          html`<tr data-suite-schedule=${s.name}>
            <td>${s.name}<br /><small>${s.type}, ${s.concurrencyPolicy}</small></td>
            <td>
              <code>${s.schedule}</code
              ><br />${s.next.map((d) => html`<small>${new Date(d).toLocaleString()}</small><br />`)}
            </td>
            <td><button onClick=${() => act('POST', '/api/v1/schedules', { name: s.name })}>Start</button></td>
          </tr>`,
      )}
    </table>
    <h2>Running Schedules</h2>
    ${(active?.schedules ?? []).length === 0 ? html`<p><small>none (start one above, or paste a Schedule as YAML)</small></p>` : ''}
    <table>
      ${(active?.schedules ?? []).map(
        (s) =>
          html`<tr data-schedule=${s.name}>
            <td>
              ${s.name}<br /><small><code>${s.schedule}</code>, ${s.concurrencyPolicy}</small>
              ${s.next.length ? html`<br /><small>next ${new Date(s.next[0]).toLocaleTimeString()}</small>` : ''}
            </td>
            <td>
              <span class="state ${s.state}">${s.state}</span><br />
              <small class="children"
                >${`${s.children.length} ${s.children.length === 1 ? 'child' : 'children'}`}${s.children.map(
                  (c) => html`<br />${c.name}: ${c.phase}`,
                )}</small
              >
            </td>
            <td>
              ${
                s.state === 'running'
                  ? html`<button onClick=${() => act('POST', `/api/v1/schedules/${s.name}/pause`)}>Suspend</button>`
                  : ''
              }
              ${
                s.state === 'paused'
                  ? html`<button onClick=${() => act('POST', `/api/v1/schedules/${s.name}/resume`)}>Resume</button>`
                  : ''
              }
              ${
                s.state !== 'stopped'
                  ? html`<button onClick=${() => act('DELETE', `/api/v1/schedules/${s.name}`)}>Stop</button>`
                  : ''
              }
            </td>
          </tr>`,
      )}
    </table>
    <h2>Schedule editor</h2>
    <input id="cron" value=${cron} onInput=${(e) => setCron(e.target.value)} />
    <button id="preview" onClick=${check}>Next runs</button>
    <ul id="next-runs">
      ${(preview ?? []).map((d) => html`<li>${new Date(d).toLocaleString()}</li>`)}
    </ul>
  </section>`;
}

const COLORS = ['#d93025', '#1a73e8', '#188038', '#f29900', '#9334e6', '#00897b', '#5f6368'];

/** Each experiment's p99 during its fault over the last recorded runs (oldest first). */
function Trend({ trend }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    if (!canvas.current || !trend) return;
    const data = {
      labels: trend.runs,
      datasets: trend.p99.map((e, i) => ({
        label: e.experiment,
        data: e.points,
        spanGaps: true,
        borderColor: COLORS[i % COLORS.length],
        pointRadius: 2,
      })),
    };
    if (!chart.current) {
      chart.current = new window.Chart(canvas.current, {
        type: 'line',
        data,
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: { y: { min: 0, title: { display: true, text: 'p99 during the fault (ms)' } } },
        },
      });
    } else {
      chart.current.data = data;
      chart.current.update();
    }
  }, [trend]);
  if (!trend || trend.runs.length < 2) return html`<p><small>the trend shows once two runs are recorded</small></p>`;
  return html`<h3>p99 during the fault over the last ${trend.runs.length} runs</h3>
    <div style="height:240px"><canvas id="trend" ref=${canvas}></canvas></div>`;
}

function History() {
  const data = usePoll('/api/v1/history', 2000);
  return html`<section class="wide">
    <h2>History</h2>
    <${Trend} trend=${data?.trend} />
    <table id="history">
      ${(data?.experiments ?? []).map(
        (e) =>
          html`<tr data-history=${e.name}>
            <td>${e.kind}/${e.name}</td>
            <td class=${e.phase}>${e.phase}</td>
            <td>
              <small>${e.startedAt ?? ''} → ${e.recoveredAt ?? ''}</small>
              ${(e.effects ?? []).map((x) => html`<br /><small class=${x.took ? 'effect ok' : 'effect bad'}>${x.kind} on ${x.target}: ${x.summary}</small>`)}
            </td>
          </tr>`,
      )}
      ${(data?.runs ?? []).map(
        (r) =>
          html`<tr>
            <td>run ${r.runId}<br /><a href=${r.report}>HTML report</a></td>
            <td colspan="2">
              ${r.results.map((x) => html`<span class=${x.verdict}>${x.verdict.toUpperCase()}</span> ${x.kind}/${x.name}<br />`)}
            </td>
          </tr>`,
      )}
    </table>
  </section>`;
}

function Login({ onLogin }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = (e) => {
    e.preventDefault();
    api('POST', '/api/v1/session', token ? { token } : { username, password }).then(
      (s) => onLogin(s.actor),
      (err) => setError(err.message),
    );
  };
  return html`<header><b>Nova Chaos</b><small>controller dashboard</small></header>
    <main>
      <section>
        <h2>Log in</h2>
        <form id="login" onSubmit=${submit}>
          <p>
            <input
              id="username"
              placeholder="user"
              autocomplete="username"
              value=${username}
              onInput=${(e) => setUsername(e.target.value)}
            />
          </p>
          <p>
            <input
              id="password"
              type="password"
              placeholder="password"
              autocomplete="current-password"
              value=${password}
              onInput=${(e) => setPassword(e.target.value)}
            />
          </p>
          <p>
            <small>or the API token (.chaos/up.json)</small
            ><input id="token" type="password" value=${token} onInput=${(e) => setToken(e.target.value)} />
          </p>
          <button id="login-button" type="submit">Log in</button>
        </form>
        ${error ? html`<p class="error" id="login-error">${error}</p>` : ''}
      </section>
    </main>`;
}

function App() {
  const [error, setError] = useState('');
  // undefined: asking the API; null: logged out; a string: who is logged in.
  const [actor, setActor] = useState(undefined);
  useEffect(() => {
    onUnauthenticated = () => setActor(null);
    api('GET', '/api/v1/session').then(
      (s) => setActor(s.actor),
      () => setActor(null),
    );
  }, []);
  if (actor === undefined) return html`<p>Loading…</p>`;
  if (actor === null) return html`<${Login} onLogin=${setActor} />`;
  const logout = () => api('DELETE', '/api/v1/session').finally(() => setActor(null));
  return html`<header>
      <b>Nova Chaos</b
      ><span><small id="actor">${actor}</small> <button id="logout" onClick=${logout}>Log out</button></span>
    </header>
    ${error ? html`<p class="error" id="error" style="margin:8px 24px">${error}</p>` : ''}
    <main>
      <${Suite} onError=${setError} />
      <${Running} onError=${setError} />
      <${Live} />
      <${Schedules} onError=${setError} />
      <${History} />
    </main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading…" placeholder: Preact renders beside existing nodes, not over them
render(html`<${App} />`, root);
