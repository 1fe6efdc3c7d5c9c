// Colony dashboard: a hash-routed single page over the node's REST API v2.
//   #/streams/{app}          broadcasts of an application, refreshed every 2 s
//   #/play/{app}/{id}?proto= plays a stream by HLS (hls.js) or WebRTC (WHEP)
//   #/apps/{app}             ABR ladder and token settings of an application
//   #/cluster                nodes of the cluster, refreshed every 5 s
// When the REST API answers 403 the page asks for the admin login
// (POST /rest/v2/users/authenticate) and then sends its JWT as a Bearer token.
'use strict';
(() => {
  const STREAMS_EVERY = 2000;
  const CLUSTER_EVERY = 5000;
  const PAGE = 50;

  const main = document.getElementById('main');
  const state = {
    token: sessionStorage.getItem('colony.token') || '',
    apps: null,
    cleanup: null,
    gen: 0,
  };

  // ---- helpers ----------------------------------------------------------

  // h builds an element: h('td', {class: 'num'}, 'text', child...). Text is
  // always set as text, never parsed as HTML.
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const enc = encodeURIComponent;
  const fmtInt = (n) => (n === undefined || n === null ? '' : Number(n).toLocaleString('en-US'));
  const fmtKbps = (bps) => (bps ? Math.round(bps / 1000).toLocaleString('en-US') + ' kbps' : '');
  const fmtRes = (w, ht) => (w && ht ? `${w}×${ht}` : '');
  function ago(ms) {
    if (!ms) return '';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    return `${Math.floor(s / 3600)} h ago`;
  }

  class Forbidden extends Error {}

  // api calls the REST API; it throws Forbidden on 403 and an Error with the
  // Ant Media result's message on any other failure.
  async function api(path, opts = {}) {
    const headers = {};
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    const resp = await fetch(path, { method: opts.method || 'GET', headers, body, cache: 'no-store' });
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if ((resp.status === 403 || resp.status === 429) && !opts.noLogin) {
      // A token refused (expired, or too many bad ones: 429) is dropped, so
      // that the page stops sending it; the login form says why.
      const dropped = Boolean(state.token);
      if (dropped) {
        state.token = '';
        sessionStorage.removeItem('colony.token');
      }
      const err = new Forbidden(data && data.message);
      err.dropped = dropped;
      throw err;
    }
    if (!resp.ok) {
      const err = new Error((data && data.message) || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // guarded runs f and turns a 403 into the login form (then runs it again).
  async function guarded(f) {
    try {
      return await f();
    } catch (e) {
      if (e instanceof Forbidden) {
        showLogin(e.dropped ? e.message : '');
        return undefined;
      }
      throw e;
    }
  }

  async function apps() {
    if (!state.apps) {
      const res = await api('/rest/v2/applications');
      state.apps = (res && res.applications) || [];
    }
    return state.apps;
  }

  function appPicker(current, route) {
    const sel = h('select', { id: 'app-select', 'aria-label': 'Application', onchange: () => { location.hash = `#/${route}/${enc(sel.value)}`; } });
    for (const a of state.apps || []) sel.append(h('option', { value: a, selected: a === current }, a));
    return sel;
  }

  // every calls f now and then every ms until the page changes; it returns the stop function.
  function every(ms, f) {
    let stopped = false;
    let timer = null;
    const tick = async () => {
      try { await f(); } catch (e) { console.warn(e); }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    tick();
    return () => { stopped = true; clearTimeout(timer); };
  }

  // ---- login ------------------------------------------------------------

  const login = document.getElementById('login');
  const loginForm = document.getElementById('login-form');
  const loginError = document.getElementById('login-error');
  const logoutButton = document.getElementById('logout');

  function showLogin(why) {
    if (state.cleanup) { state.cleanup(); state.cleanup = null; }
    state.gen++;
    main.replaceChildren();
    loginError.textContent = why || '';
    login.hidden = false;
    document.getElementById('login-user').focus();
  }

  loginForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    loginError.textContent = '';
    const email = document.getElementById('login-user').value;
    const password = document.getElementById('login-password').value;
    try {
      const res = await api('/rest/v2/users/authenticate', { method: 'POST', json: { email, password }, noLogin: true });
      state.token = res.dataId;
      sessionStorage.setItem('colony.token', state.token);
      login.hidden = true;
      document.getElementById('login-password').value = '';
      route();
    } catch (e) {
      loginError.textContent = e.status === 403 ? 'Login is not configured on this node (rest.admin_user).' : e.message;
    }
  });

  logoutButton.addEventListener('click', () => {
    state.token = '';
    sessionStorage.removeItem('colony.token');
    state.apps = null;
    route();
  });

  // ---- streams page -----------------------------------------------------

  async function streamsPage(view, app) {
    const names = await apps();
    if (!app) app = names[0];
    let offset = 0;
    const count = h('small', {}, '');
    const tbody = h('tbody', { id: 'streams-body' });
    const message = h('p', { class: 'error', role: 'alert' });
    const pager = h('span', { class: 'muted' });
    const prev = h('button', { type: 'button', onclick: () => { offset = Math.max(0, offset - PAGE); refresh(); } }, '‹ Previous');
    const next = h('button', { type: 'button', onclick: () => { offset += PAGE; refresh(); } }, 'Next ›');
    const idInput = h('input', { name: 'streamId', placeholder: 'stream id (optional)', pattern: '[A-Za-z0-9_.\\-]{1,128}' });
    const nameInput = h('input', { name: 'name', placeholder: 'name (optional)' });
    const create = h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      message.textContent = '';
      try {
        const body = {};
        if (idInput.value) body.streamId = idInput.value;
        if (nameInput.value) body.name = nameInput.value;
        await guarded(() => api(`/${enc(app)}/rest/v2/broadcasts/create`, { method: 'POST', json: body }));
        idInput.value = nameInput.value = '';
        refresh();
      } catch (e) { message.textContent = e.message; }
    } }, idInput, nameInput, h('button', { type: 'submit' }, 'Create broadcast'));

    view.replaceChildren(
      h('h1', {}, 'Streams', appPicker(app, 'streams'), count),
      h('div', { class: 'panel' }, create, message),
      h('table', { id: 'streams' },
        h('thead', {}, h('tr', {},
          h('th', {}, 'Stream'), h('th', {}, 'Status'), h('th', {}, 'Publish type'), h('th', {}, 'Origin node'),
          h('th', {}, 'Resolution'), h('th', { class: 'num' }, 'Bitrate'), h('th', { class: 'num' }, 'HLS'),
          h('th', { class: 'num' }, 'WebRTC'), h('th', { class: 'num' }, 'RTMP'), h('th', {}, ''))),
        tbody),
      h('p', { class: 'actions' }, prev, next, pager));

    async function action(method, path) {
      message.textContent = '';
      try {
        await guarded(() => api(path, { method }));
      } catch (e) { message.textContent = e.message; }
      refresh();
    }

    function row(b) {
      const base = `/${enc(app)}/rest/v2/broadcasts/${enc(b.streamId)}`;
      const live = b.status === 'broadcasting';
      return h('tr', { dataset: { stream: b.streamId } },
        h('td', {}, b.streamId, b.name && b.name !== b.streamId ? h('div', { class: 'muted' }, b.name) : null),
        h('td', { class: `status status-${b.status}` }, b.status),
        h('td', {}, b.publishType || ''),
        h('td', {}, b.originNode || ''),
        h('td', { class: 'resolution' }, fmtRes(b.width, b.height)),
        h('td', { class: 'num' }, fmtKbps(b.bitrate)),
        h('td', { class: 'num' }, fmtInt(b.hlsViewerCount)),
        h('td', { class: 'num' }, fmtInt(b.webRTCViewerCount)),
        h('td', { class: 'num' }, fmtInt(b.rtmpViewerCount)),
        h('td', { class: 'actions' },
          h('a', { class: 'button', href: `#/play/${enc(app)}/${enc(b.streamId)}` }, 'Play HLS'),
          h('a', { class: 'button', href: `#/play/${enc(app)}/${enc(b.streamId)}?proto=webrtc` }, 'Play WebRTC'),
          live ? h('button', { type: 'button', onclick: () => action('POST', base + '/stop') }, 'Stop') : null,
          h('button', { type: 'button', class: 'danger', onclick: () => action('DELETE', base) }, 'Delete')));
    }

    async function refresh() {
      const [list, total, active] = await guarded(() => Promise.all([
        api(`/${enc(app)}/rest/v2/broadcasts/list/${offset}/${PAGE}`),
        api(`/${enc(app)}/rest/v2/broadcasts/count`),
        api(`/${enc(app)}/rest/v2/broadcasts/active-live-stream-count`),
      ])) || [];
      if (!list) return;
      // Viewers of the live streams counted now, over the whole cluster (the
      // list has the origin's own, from its last heartbeat).
      await Promise.all(list.filter((b) => b.status === 'broadcasting').map(async (b) => {
        try {
          const st = await api(`/${enc(app)}/rest/v2/broadcasts/${enc(b.streamId)}/broadcast-statistics`);
          if (st) {
            b.hlsViewerCount = st.totalHLSWatchersCount;
            b.webRTCViewerCount = st.totalWebRTCWatchersCount;
            b.rtmpViewerCount = st.totalRTMPWatchersCount;
          }
        } catch (_) { /* keep the list's counts */ }
      }));
      count.textContent = `${fmtInt(active.number)} live of ${fmtInt(total.number)}`;
      tbody.replaceChildren(...(list.length ? list.map(row) : [h('tr', {}, h('td', { colspan: 10, class: 'empty' }, 'No broadcasts.'))]));
      prev.disabled = offset === 0;
      next.disabled = offset + PAGE >= total.number;
      pager.textContent = total.number ? `${offset + 1}–${Math.min(offset + PAGE, total.number)} of ${total.number}` : '';
    }
    return every(STREAMS_EVERY, refresh);
  }

  // ---- player page ------------------------------------------------------

  function waitIceGathering(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); } };
      const t = setTimeout(resolve, ms);
      pc.addEventListener('icegatheringstatechange', done);
    });
  }

  // playWebRTC plays by WHEP: POST the offer to /{app}/whep/{id}, 201 with the answer.
  async function playWebRTC(video, app, id, token, report) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    let session = null;
    const stop = () => {
      pc.close();
      if (session) fetch(session, { method: 'DELETE' }).catch(() => {});
    };
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const media = new MediaStream();
      pc.addEventListener('track', (ev) => {
        media.addTrack(ev.track);
        video.srcObject = media;
        video.play().catch(() => {});
      });
      pc.addEventListener('connectionstatechange', () => report('WebRTC ' + pc.connectionState));
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc, 2000);
      const url = `/${enc(app)}/whep/${enc(id)}` + (token ? `?token=${enc(token)}` : '');
      const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
      const answer = await resp.text();
      if (resp.status !== 201) throw new Error(`WHEP answered ${resp.status}: ${answer.trim()}`);
      const loc = resp.headers.get('Location');
      if (loc) session = new URL(loc, location.href).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (e) {
      stop();
      throw e;
    }
    return stop;
  }

  // playHLS plays with hls.js (or the browser's own HLS), retrying while
  // the stream is not up yet.
  function playHLS(video, app, id, token, report) {
    const url = `/${enc(app)}/streams/${enc(id)}.m3u8` + (token ? `?token=${enc(token)}` : '');
    if (!window.Hls || !window.Hls.isSupported()) {
      if (video.canPlayType('application/vnd.apple.mpegurl')) {
        video.src = url;
        video.play().catch(() => {});
        return () => { video.removeAttribute('src'); video.load(); };
      }
      throw new Error('this browser plays neither HLS nor Media Source Extensions');
    }
    let hls = null;
    let retry = null;
    const start = () => {
      hls = new window.Hls({ lowLatencyMode: true, backBufferLength: 30 });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => { report('HLS playing'); video.play().catch(() => {}); });
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        report(`HLS error: ${data.details}; retrying`);
        hls.destroy();
        retry = setTimeout(start, 2000);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    };
    start();
    return () => { clearTimeout(retry); if (hls) hls.destroy(); };
  }

  async function playerPage(view, app, id, params) {
    const proto = params.get('proto') === 'webrtc' ? 'webrtc' : 'hls';
    const token = params.get('token') || '';
    const video = h('video', { id: 'player', controls: true, autoplay: true, muted: true, playsinline: true });
    video.muted = true;
    const status = h('p', { id: 'player-status', class: 'muted' }, 'starting…');
    const stats = h('dl', { id: 'player-stats' });
    const info = h('dl', { id: 'broadcast-info' });
    const tab = (p, label) => h('a', { class: `button${p === proto ? ' active' : ''}`, href: `#/play/${enc(app)}/${enc(id)}${p === 'webrtc' ? '?proto=webrtc' : ''}` }, label);
    view.replaceChildren(
      h('h1', {}, `${app} / ${id}`, h('span', { class: 'tabs' }, tab('hls', 'HLS'), tab('webrtc', 'WebRTC')),
        h('a', { class: 'button', href: `#/streams/${enc(app)}` }, 'Back to streams')),
      h('div', { class: 'player' },
        h('div', {}, video, status),
        h('div', { class: 'panel' }, h('h2', {}, 'Playback'), stats, h('h2', {}, 'Broadcast'), info)));
    const report = (s) => { status.textContent = s; };

    let stopPlayer = () => {};
    try {
      stopPlayer = proto === 'webrtc' ? await playWebRTC(video, app, id, token, report) : playHLS(video, app, id, token, report);
    } catch (e) {
      report(e.message);
      status.className = 'error';
    }

    const dl = (el, pairs) => el.replaceChildren(...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const stopStats = every(1000, async () => {
      const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {};
      dl(stats, [
        ['Protocol', proto === 'webrtc' ? 'WebRTC (WHEP)' : 'HLS'],
        ['Video', fmtRes(video.videoWidth, video.videoHeight)],
        ['Frames decoded', fmtInt(q.totalVideoFrames || 0)],
        ['Frames dropped', fmtInt(q.droppedVideoFrames || 0)],
        ['Time', video.currentTime.toFixed(1) + ' s'],
      ]);
    });
    const stopInfo = every(STREAMS_EVERY, async () => {
      const b = await guarded(() => api(`/${enc(app)}/rest/v2/broadcasts/${enc(id)}`)).catch((e) => ({ status: e.message }));
      if (!b) return;
      dl(info, [
        ['Status', b.status || ''], ['Publish type', b.publishType || ''], ['Origin', b.originNode || ''],
        ['Resolution', fmtRes(b.width, b.height)], ['Bitrate', fmtKbps(b.bitrate)], ['Codecs', [b.videoCodec, b.audioCodec].filter(Boolean).join(' + ')],
        ['Viewers', `HLS ${fmtInt(b.hlsViewerCount)} · WebRTC ${fmtInt(b.webRTCViewerCount)} · RTMP ${fmtInt(b.rtmpViewerCount)}`],
      ]);
    });
    return () => { stopStats(); stopInfo(); stopPlayer(); video.srcObject = null; };
  }

  // ---- applications page --------------------------------------------------

  async function appsPage(view, app) {
    const names = await apps();
    if (!app) app = names[0];
    const s = await guarded(() => api(`/rest/v2/applications/settings/${enc(app)}`));
    if (!s) return null;
    const message = h('p', { class: 'notice', role: 'status' });
    const saved = h('small', {}, s.updateTime ? 'saved ' + new Date(s.updateTime).toLocaleString() : 'defaults');
    const check = (name, label) => h('label', {}, h('input', { type: 'checkbox', name, checked: !!s[name] }), label);
    const secret = h('input', { name: 'jwtStreamSecretKey', value: s.jwtStreamSecretKey || '', size: 40, placeholder: 'at least 32 characters' });
    const rungs = h('tbody', { id: 'ladder' });
    const addRung = (r) => {
      const num = (name, v, step) => h('input', { type: 'number', name, min: 0, step, value: v });
      rungs.append(h('tr', {},
        h('td', {}, num('height', r.height || '', 1)),
        h('td', {}, num('videoKbps', r.videoBitrate ? r.videoBitrate / 1000 : '', 1)),
        h('td', {}, num('audioKbps', r.audioBitrate ? r.audioBitrate / 1000 : '', 1)),
        h('td', {}, h('input', { type: 'checkbox', name: 'forceEncode', checked: !!r.forceEncode })),
        h('td', {}, h('button', { type: 'button', class: 'danger', onclick: (ev) => ev.target.closest('tr').remove() }, 'Remove'))));
    };
    (s.encoderSettings || []).forEach(addRung);

    const form = h('form', { id: 'app-settings', onsubmit: async (ev) => {
      ev.preventDefault();
      message.className = 'notice';
      message.textContent = '';
      const f = ev.target;
      const body = { appName: app, jwtStreamSecretKey: secret.value, encoderSettings: [] };
      for (const n of ['hlsMuxingEnabled', 'webRTCEnabled', 'publishTokenControlEnabled', 'playTokenControlEnabled', 'publishJwtControlEnabled', 'playJwtControlEnabled']) {
        body[n] = f.elements[n].checked;
      }
      for (const tr of rungs.querySelectorAll('tr')) {
        const v = (n) => tr.querySelector(`[name=${n}]`);
        body.encoderSettings.push({
          height: Number(v('height').value),
          videoBitrate: Math.round(Number(v('videoKbps').value) * 1000),
          audioBitrate: Math.round(Number(v('audioKbps').value) * 1000),
          forceEncode: v('forceEncode').checked,
        });
      }
      try {
        await guarded(() => api(`/rest/v2/applications/settings/${enc(app)}`, { method: 'PUT', json: body }));
        message.textContent = 'Saved.';
        saved.textContent = 'saved ' + new Date().toLocaleString();
      } catch (e) {
        message.className = 'error';
        message.textContent = e.message;
      }
    } },
    h('div', { class: 'panel' }, h('h2', {}, 'Output'),
      h('div', { class: 'grid' }, check('hlsMuxingEnabled', 'HLS'), check('webRTCEnabled', 'WebRTC'))),
    h('div', { class: 'panel' }, h('h2', {}, 'Adaptive bitrate ladder'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Height'), h('th', {}, 'Video kbps'), h('th', {}, 'Audio kbps'), h('th', {}, 'Force encode'), h('th', {}, ''))), rungs),
      h('p', {}, h('button', { type: 'button', id: 'add-rung', onclick: () => addRung({}) }, 'Add rung'))),
    h('div', { class: 'panel' }, h('h2', {}, 'Stream tokens'),
      h('div', { class: 'grid' },
        check('publishTokenControlEnabled', 'One-time token to publish'), check('playTokenControlEnabled', 'One-time token to play'),
        check('publishJwtControlEnabled', 'JWT to publish'), check('playJwtControlEnabled', 'JWT to play')),
      h('label', {}, 'JWT secret', secret)),
    h('p', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), message));

    view.replaceChildren(h('h1', {}, 'Applications', appPicker(app, 'apps'), saved), form);
    return null;
  }

  // ---- cluster page -------------------------------------------------------

  async function clusterPage(view) {
    const tbody = h('tbody', { id: 'nodes-body' });
    const count = h('small', { id: 'node-count' });
    const message = h('p', { class: 'error', role: 'alert' });
    view.replaceChildren(
      h('h1', {}, 'Cluster', count),
      h('table', { id: 'nodes' },
        h('thead', {}, h('tr', {},
          h('th', {}, 'Node'), h('th', {}, 'Address'), h('th', {}, 'Role'), h('th', {}, 'Group'),
          h('th', { class: 'num' }, 'CPU'), h('th', { class: 'num' }, 'Memory'), h('th', { class: 'num' }, 'Streams'),
          h('th', { class: 'num' }, 'Viewers'), h('th', { class: 'num' }, 'DB query'), h('th', {}, 'Last heartbeat'),
          h('th', {}, 'Status'), h('th', {}, ''))),
        tbody),
      message);

    async function remove(id) {
      message.textContent = '';
      try {
        await guarded(() => api(`/rest/v2/cluster/node/${enc(id)}`, { method: 'DELETE' }));
      } catch (e) { message.textContent = e.message; }
      refresh();
    }

    function row(n) {
      const live = n.status === 'alive';
      const word = live ? 'Live' : 'Inaccessible';
      return h('tr', { dataset: { node: n.id } },
        h('td', {}, n.id, n.version ? h('div', { class: 'muted' }, n.version) : null),
        h('td', {}, n.httpAddress || n.ip || ''),
        h('td', {}, n.role || ''),
        h('td', {}, n.group || ''),
        h('td', { class: 'num' }, `${Number(n.cpuPercent || 0).toFixed(1)} %`),
        h('td', { class: 'num' }, n.memory ? `${n.memory} MB` : ''),
        h('td', { class: 'num' }, fmtInt(n.streams)),
        h('td', { class: 'num' }, fmtInt(n.viewers)),
        h('td', { class: 'num' }, `${Number(n.dbQueryAverageTimeMs || 0).toFixed(1)} ms`),
        h('td', { title: n.lastUpdateTime ? new Date(n.lastUpdateTime).toISOString() : '' }, ago(n.lastUpdateTime)),
        h('td', { class: `status status-${word.toLowerCase()}` }, word),
        h('td', {}, live ? null : h('button', { type: 'button', class: 'danger delete-node', onclick: () => remove(n.id) }, 'Delete')));
    }

    async function refresh() {
      const nodes = await guarded(() => api(`/rest/v2/cluster/nodes/0/${PAGE}`));
      if (!nodes) return;
      const live = nodes.filter((n) => n.status === 'alive').length;
      count.textContent = `${live} live of ${nodes.length} · refreshed ${new Date().toLocaleTimeString()}`;
      tbody.replaceChildren(...(nodes.length ? nodes.map(row) : [h('tr', {}, h('td', { colspan: 12, class: 'empty' }, 'No nodes registered.'))]));
    }
    return every(CLUSTER_EVERY, refresh);
  }

  // ---- routing ------------------------------------------------------------

  // route shows the page the hash names. Each visit renders into its own
  // view element, so that a page still loading when the hash changes again
  // draws into a detached element and is cleaned up at once.
  async function route() {
    if (state.cleanup) { state.cleanup(); state.cleanup = null; }
    const gen = ++state.gen;
    login.hidden = true;
    logoutButton.hidden = !state.token;
    const [path, query] = (location.hash.replace(/^#/, '') || '/streams').split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const page = parts[0] || 'streams';
    for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.nav === page || (page === 'play' && a.dataset.nav === 'streams'));
    const view = h('div', { id: `page-${page}` }, h('p', { class: 'muted' }, 'Loading…'));
    main.replaceChildren(view);
    try {
      let cleanup = null;
      await guarded(async () => {
        if (page === 'play' && parts.length >= 3) cleanup = await playerPage(view, parts[1], parts[2], new URLSearchParams(query || ''));
        else if (page === 'apps') cleanup = await appsPage(view, parts[1]);
        else if (page === 'cluster') cleanup = await clusterPage(view);
        else cleanup = await streamsPage(view, parts[1]);
      });
      if (gen !== state.gen) {
        if (cleanup) cleanup();
        return;
      }
      state.cleanup = cleanup;
    } catch (e) {
      view.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  }

  fetch('/rest/v2/liveness', { cache: 'no-store' }).then((r) => r.json()).then((l) => {
    document.getElementById('node-info').textContent = `node ${l.node} · ${l.role} · ${l.version}`;
  }).catch(() => {});
  window.addEventListener('hashchange', route);
  route();
})();
