// The Nova Chaos dashboard: a buildless Preact + htm page over the controller's REST API (same origin;
// the browser's Basic credentials authenticate, and every mutation carries X-Nova-Csrf).
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', 'x-nova-csrf': '1' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error + (data.issues ? `\n${data.issues.join('\n')}` : ''));
  return data;
}

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
    api('POST', '/api/v1/experiments', body).then(
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
              <span class="phase ${e.phase}">${e.phase}</span><br />${e.targets.map(
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
  const [cron, setCron] = useState('0 3 * * 0');
  const [preview, setPreview] = useState(undefined);
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
    <h2>Schedules</h2>
    <table>
      ${(suite?.schedules ?? []).map(
        (s) =>
          html`<tr>
            <td>${s.name}<br /><small>${s.type}, ${s.concurrencyPolicy}</small></td>
            <td>
              <code>${s.schedule}</code
              ><br />${s.next.map((d) => html`<small>${new Date(d).toLocaleString()}</small><br />`)}
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

function History() {
  const data = usePoll('/api/v1/history', 2000);
  return html`<section class="wide">
    <h2>History</h2>
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

function App() {
  const [error, setError] = useState('');
  return html`<header><b>Nova Chaos</b><small>controller dashboard</small></header>
    ${error ? html`<p class="error" id="error" style="margin:8px 24px">${error}</p>` : ''}
    <main>
      <${Suite} onError=${setError} />
      <${Running} onError=${setError} />
      <${Live} />
      <${Schedules} onError=${setError} />
      <${History} />
    </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
