// The ingest's player page (streamops/media/ingest/player/page.py serves it, with the stream's options as
// JSON in #streamops-player-options). hls.js (or dash.js with ?format=dash) plays the stream in the
// <video>. Without a live manifest the page shows the stream's screenshot and "offline", and looks
// again every 2 s: a page opened before the stream goes live starts playing by itself when it does.
//
// Query parameters: format=dash (the MPD, when the stream has one), latency=standard (hls.js without
// its low-latency mode, for comparisons), debug=1 (a line of numbers over the video).
//
// For tests, window.streamopsPlayer: {state: 'offline'|'live'|'ended', format: 'hls'|'dash'|null,
// video, stalls, engine, goLive(), behind, latency, starts, error, lowLatency}, and a
// 'streamopsplayer' event on window at each change of state.
//
// The page may sit in an iframe on another origin: it never reaches out of its own frame.
(function () {
  'use strict';

  const RETRY_MS = 2000; // offline: how often the manifest is looked at again
  const POSTER_MS = 10000; // offline: how often the screenshot is fetched again
  const BENIGN_DASH_ERRORS = new Set([16, 33]); // time sync failed (falls back), a subtitle did not parse

  const options = JSON.parse(document.getElementById('streamops-player-options').textContent);
  const params = new URLSearchParams(location.search);
  const video = document.getElementById('video');
  const overlay = document.getElementById('overlay');
  const liveButton = document.getElementById('live');
  const debugBox = document.getElementById('debug');

  const format = (params.get('format') === 'dash' && options.dash) ? 'dash'
    : options.hls ? 'hls' : options.dash ? 'dash' : null;
  const manifestUrl = format && new URL(format === 'hls' ? options.hls : options.dash, location.href).href;
  const lowLatency = format === 'hls' && options.lowLatency && params.get('latency') !== 'standard';
  const debug = params.get('debug') === '1';

  let engine = null; // the hls.js or dash.js instance playing now (null: offline)
  let manifest = null; // what probe() found when it started: {url, target, lowLatency}
  let playing = false; // 'playing' seen since the engine started: 'waiting' after it is a stall

  const api = {
    state: 'offline',
    format,
    video,
    stalls: 0,
    engine: null,
    lowLatency,
    starts: 0, // engines started (a new one after each offline spell)
    error: null, // why the page is offline, when it knows
    goLive,
    get behind() { return behindSeconds(); }, // seconds behind the live edge the player aims at
    get latency() { return latencySeconds(); }, // seconds from the live edge (NaN when unknown)
  };
  window.streamopsPlayer = api;

  // --- state -------------------------------------------------------------------------------------

  let announced = false; // the embedding page has been told the state
  function setState(state, why) {
    api.error = state === 'offline' ? (why || null) : null;
    const changed = api.state !== state;
    api.state = state;
    document.body.dataset.state = state;
    overlay.hidden = state === 'live';
    overlay.textContent = state;
    if (why && (debug || why.includes('make player') || !format)) {
      const small = document.createElement('small');
      small.textContent = why;
      overlay.appendChild(small);
    }
    liveButton.hidden = state !== 'live';
    if (changed) {
      log(`state ${state}${why ? ` (${why})` : ''}`);
      if (state === 'offline') refreshPoster();
      window.dispatchEvent(new CustomEvent('streamopsplayer', { detail: { state } }));
    }
    // Embedded: the embedding page learns the state the way video embeds tell it (a message, no
    // access to the parent's document either way); the first state too, though it is no change.
    if (window.parent !== window && (changed || !announced)) {
      announced = true;
      window.parent.postMessage({ source: 'streamops-player', state, format }, '*');
    }
  }

  function log(message) {
    if (debug) console.log(`[streamops player] ${message}`);
  }

  // --- the manifest: is the stream live? ----------------------------------------------------------

  // A manifest not rewritten for this long belongs to a session that is over (the ingest keeps
  // serving the last one, without EXT-X-ENDLIST unless the stream asks for it).
  const staleAfterMs = (target) => Math.max(3 * target, 6) * 1000 + 1000;

  function isFresh(response, target) {
    const modified = Date.parse(response.headers.get('Last-Modified') || '');
    const now = Date.parse(response.headers.get('Date') || '');
    if (Number.isNaN(modified) || Number.isNaN(now)) return true; // cannot tell: the engine will
    return now - modified <= staleAfterMs(target);
  }

  // GET the manifest (revalidated, so cheap when unchanged): {status: 'missing'|'stale'|'fresh'|
  // 'ended', url (the media playlist for HLS), target (segment seconds), lowLatency (DASH), why}.
  async function probe(url, nested) {
    let response, text;
    try {
      response = await fetch(url, { cache: 'no-cache' });
      if (!response.ok) return { status: 'missing', why: `${response.status} for the manifest` };
      text = await response.text();
    } catch (e) {
      return { status: 'missing', why: String(e) };
    }
    if (format === 'hls') {
      if (text.includes('#EXT-X-STREAM-INF') && !nested) { // multivariant: look at the first variant
        const variant = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
        return variant ? probe(new URL(variant, url).href, true) : { status: 'missing', why: 'no variant' };
      }
      const target = Number((/#EXT-X-TARGETDURATION:\s*([\d.]+)/.exec(text) || [])[1]) || 6;
      if (text.includes('#EXT-X-ENDLIST')) return { status: 'ended', url, target };
      // A stream that has just gone live: without low latency hls.js aims 3 segments behind the
      // edge (HOLD-BACK), and started with fewer it would play closer to the edge than that.
      const segments = (text.match(/#EXTINF/g) || []).length;
      if (lowLatency ? !segments && !text.includes('#EXT-X-PART:') : segments < 3) {
        return { status: 'missing', why: `${segments} segments so far` };
      }
      return { status: isFresh(response, target) ? 'fresh' : 'stale', url, target };
    }
    const mpd = new DOMParser().parseFromString(text, 'application/xml').documentElement;
    if (!mpd || mpd.localName !== 'MPD') return { status: 'missing', why: 'not an MPD' };
    const target = dashSegmentSeconds(mpd);
    // Low latency only when the MPD says so: a target latency (ServiceDescription's Latency; FFmpeg
    // writes an empty ServiceDescription for any live MPD) or segments available early
    // (availabilityTimeOffset). dash.js then applies its own low-latency settings.
    const ll = mpd.getElementsByTagNameNS('*', 'Latency').length > 0 || /availabilityTimeOffset="(?!0")/.test(text);
    if (mpd.getAttribute('type') !== 'dynamic') return { status: 'ended', url, target, lowLatency: ll };
    const segments = dashSegmentCount(mpd); // likewise, for the live delay of 2 segments below
    if (!ll && segments < 2) return { status: 'missing', why: `${segments} segments so far` };
    return { status: isFresh(response, target) ? 'fresh' : 'stale', url, target, lowLatency: ll };
  }

  function dashSegmentSeconds(mpd) {
    const template = mpd.getElementsByTagNameNS('*', 'SegmentTemplate')[0];
    if (template) {
      const timescale = Number(template.getAttribute('timescale')) || 1;
      const s = template.getElementsByTagNameNS('*', 'S')[0];
      const duration = Number(template.getAttribute('duration') || (s && s.getAttribute('d')));
      if (duration > 0) return duration / timescale;
    }
    const max = /PT(?:([\d.]+)M)?(?:([\d.]+)S)?/.exec(mpd.getAttribute('maxSegmentDuration') || '');
    return (max && (Number(max[1] || 0) * 60 + Number(max[2] || 0))) || 6;
  }

  function dashSegmentCount(mpd) { // in the first SegmentTimeline (Infinity without one: cannot tell)
    const timeline = mpd.getElementsByTagNameNS('*', 'SegmentTimeline')[0];
    if (!timeline) return Infinity;
    let count = 0;
    for (const s of timeline.getElementsByTagNameNS('*', 'S')) {
      const r = Number(s.getAttribute('r') || 0);
      count += r < 0 ? Infinity : 1 + r;
    }
    return count;
  }

  // While playing, only the manifest's age is looked at (HEAD: no body): 'missing'|'stale'|'fresh'|'unknown'.
  async function check(url, target) {
    try {
      const response = await fetch(url, { method: 'HEAD', cache: 'no-store' });
      if (!response.ok) return 'missing';
      return isFresh(response, target) ? 'fresh' : 'stale';
    } catch (e) {
      return 'unknown'; // one lost request is no verdict: the engine reports real failures
    }
  }

  async function tick() {
    const running = engine;
    if (!running || api.state === 'ended') {
      const found = await probe(manifestUrl);
      if (engine !== running) return; // an engine failed or started meanwhile: next tick
      if (found.status === 'ended' && running) return; // still the ended session, playable
      if (running) stop(); // ended, and now a new session (or nothing at all)
      if (found.status === 'fresh' || found.status === 'ended') await start(found);
      else setState('offline', found.why || (found.status === 'stale' ? 'not live' : null));
      return;
    }
    const verdict = await check(manifest.url, manifest.target);
    if (engine !== running || api.state !== 'live') return;
    if (verdict === 'missing' || verdict === 'stale') {
      stop();
      setState('offline', `manifest ${verdict}`);
    }
  }

  async function loop() {
    for (;;) {
      try {
        await tick();
      } catch (e) {
        log(`tick: ${e}`);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  // --- engines ------------------------------------------------------------------------------------

  const scripts = {};
  function loadScript(src) {
    if (!scripts[src]) {
      scripts[src] = new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = src;
        script.onload = resolve;
        script.onerror = () => {
          delete scripts[src];
          script.remove();
          reject(new Error(`could not load ${src}`));
        };
        document.head.appendChild(script);
      });
    }
    return scripts[src];
  }

  async function start(found) {
    const src = options.scripts[format];
    if (!src) {
      const name = format === 'hls' ? 'hls.min.js' : 'dash.all.min.js';
      setState('offline', `${name} is missing from the worker: run make player`);
      return;
    }
    try {
      await loadScript(src);
    } catch (e) {
      setState('offline', String(e.message || e));
      return;
    }
    if (engine) return;
    const ended = found.status === 'ended';
    manifest = found;
    playing = false;
    video.muted = true;
    video.autoplay = !ended; // an ended stream's window plays when asked to
    engine = api.engine = format === 'hls' ? startHls(ended) : startDash(found, ended);
    api.starts += 1;
    setState(ended ? 'ended' : 'live');
  }

  function stop() {
    const running = engine;
    engine = api.engine = null;
    manifest = null;
    playing = false;
    if (!running) return;
    try {
      running.destroy();
    } catch (e) {
      log(`destroy: ${e}`);
    }
    video.removeAttribute('src'); // back to the poster
    video.load();
  }

  // An engine gave up (manifest gone, fatal error): offline, and the loop tries again in 2 s.
  function fail(failed, why) {
    if (failed !== engine) return;
    stop();
    setState('offline', why);
  }

  function ended(which) {
    if (which === engine && api.state === 'live') setState('ended');
  }

  function play() {
    const promise = video.play();
    if (promise) promise.catch((e) => log(`play: ${e}`));
  }

  function startHls(ended_) {
    const Hls = window.Hls;
    if (!Hls.isSupported() && video.canPlayType('application/vnd.apple.mpegurl')) return startNative(ended_);
    // With lowLatencyMode the target latency comes from the playlist's PART-HOLD-BACK, which
    // setting liveSyncDuration(Count) would override. Standard HLS: 2 segments behind the newest
    // instead of hls.js's 3: with 2 s segments glass-to-glass measured 6.9 s with hls.js's 3 and
    // 5.0 s with 2 (bench/results/latency.md and its first run in git); ?liveSyncSegments=3 restores 3.
    const syncSegments = Number(params.get('liveSyncSegments')) || 2;
    const hls = new Hls(lowLatency ? { lowLatencyMode: true } : { lowLatencyMode: false, liveSyncDurationCount: syncSegments });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) fail(hls, `hls.js: ${data.type} ${data.details}${data.response ? ` (${data.response.code})` : ''}`);
    });
    hls.on(Hls.Events.LEVEL_LOADED, (_, data) => {
      if (data.details && !data.details.live) ended(hls); // EXT-X-ENDLIST
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      if (!ended_) play();
    });
    hls.loadSource(manifestUrl);
    hls.attachMedia(video);
    return hls;
  }

  function startNative(ended_) { // Safari without MSE: the browser plays HLS itself
    const native = {
      native: true,
      destroy() { video.removeEventListener('error', onError); },
    };
    const onError = () => fail(native, `media error ${video.error && video.error.code}`);
    video.addEventListener('error', onError);
    video.src = manifestUrl;
    if (!ended_) play();
    return native;
  }

  function startDash(found, ended_) {
    const dashjs = window.dashjs;
    const player = dashjs.MediaPlayer().create();
    // A low-latency MPD (ServiceDescription, availabilityTimeOffset): dash.js's own low-latency
    // settings apply; a live delay set here would override the MPD's target latency. Otherwise
    // 2.5 segments behind the edge (dash.js's default is 4). dash.js counts from the wall clock's
    // edge, not from the newest complete segment as hls.js does, so at 2 the buffer ran down to
    // nothing before each segment arrived: 80 frames dropped, 0.67 s gaps when idle and a stall at
    // load 6 (CI); 2.5 keeps at least half a segment buffered.
    if (!found.lowLatency) player.updateSettings({ streaming: { delay: { liveDelayFragmentCount: 2.5 } } });
    // The ingest's clock (<prefix>/time, beside the page), never dash.js's default public time server.
    const clock = { scheme: 'urn:mpeg:dash:utc:http-xsdate:2014', value: new URL('time', location.href).href };
    player.updateSettings({ streaming: { utcSynchronization: { defaultTimingSource: clock } } });
    const events = dashjs.MediaPlayer.events;
    player.on(events.ERROR, (e) => {
      const error = e.error || {};
      if (!BENIGN_DASH_ERRORS.has(error.code)) fail(player, `dash.js: ${error.code} ${error.message || ''}`.trim());
    });
    player.on(events.PLAYBACK_ERROR, (e) => fail(player, `dash.js playback: ${e.error && e.error.message}`));
    player.on(events.DYNAMIC_TO_STATIC, () => ended(player));
    player.initialize(video, manifestUrl, !ended_);
    return player;
  }

  // --- the live edge and DVR ----------------------------------------------------------------------

  function latencySeconds() {
    if (!engine || engine.native) return NaN;
    if (format === 'hls') return engine.latestLevelDetails ? engine.latency : NaN;
    const latency = engine.getCurrentLiveLatency();
    return Number.isFinite(latency) ? latency : NaN;
  }

  function behindSeconds() {
    if (!engine || engine.native || api.state !== 'live') return 0;
    const target = format === 'hls' ? engine.targetLatency : engine.getTargetLiveDelay();
    const latency = latencySeconds();
    if (!(latency > 0) || !(target > 0)) return 0;
    return Math.max(0, latency - target);
  }

  function goLive() {
    if (!engine || api.state !== 'live') return;
    if (engine.native) {
      if (video.seekable.length) video.currentTime = video.seekable.end(video.seekable.length - 1);
    } else if (format === 'hls') {
      const position = engine.liveSyncPosition;
      if (position !== null && Number.isFinite(position)) video.currentTime = position;
    } else {
      engine.seekToOriginalLive();
    }
    play();
  }

  function updateLiveButton() {
    if (api.state !== 'live') return;
    const behind = behindSeconds();
    // Within a segment and a half of the target (the edge moves by a segment at each update).
    const isBehind = video.paused || behind > Math.max(3, 1.5 * (manifest ? manifest.target : 6));
    liveButton.dataset.behind = String(isBehind);
    liveButton.textContent = isBehind && behind >= 1 ? `LIVE \u2212${Math.round(behind)} s` : 'LIVE';
    liveButton.title = isBehind ? 'Behind the live edge: click to go live' : 'At the live edge';
  }

  function updateDebug() {
    const buffered = video.buffered.length ? video.buffered.end(video.buffered.length - 1) - video.currentTime : 0;
    const seekable = video.seekable.length
      ? `${video.seekable.start(0).toFixed(1)}-${video.seekable.end(video.seekable.length - 1).toFixed(1)}` : '-';
    const version = engine && !engine.native ? (format === 'hls' ? window.Hls.version : engine.getVersion()) : '-';
    debugBox.textContent = [
      `${api.state} ${format || '-'} ${version}${lowLatency ? ' low-latency' : ''}`,
      `t ${video.currentTime.toFixed(2)}  seekable ${seekable}  buffer ${buffered.toFixed(2)} s`,
      `latency ${latencySeconds().toFixed(2)} s  behind ${behindSeconds().toFixed(2)} s`,
      `stalls ${api.stalls}  starts ${api.starts}${api.error ? `  ${api.error}` : ''}`,
    ].join('\n');
  }

  // --- the poster ---------------------------------------------------------------------------------

  function refreshPoster() {
    if (!options.poster) return;
    const url = new URL(options.poster, location.href);
    url.searchParams.set('t', String(Date.now()));
    const image = new Image(); // swapped in once loaded: no broken poster while there is none
    image.onload = () => { video.poster = url.href; };
    image.src = url.href;
  }

  // --- wiring -------------------------------------------------------------------------------------

  video.addEventListener('playing', () => { playing = true; });
  video.addEventListener('waiting', () => {
    if (engine && playing && !video.seeking) api.stalls += 1; // a seek's wait is not a stall
  });
  liveButton.addEventListener('click', goLive);

  setInterval(() => {
    updateLiveButton();
    if (debug) updateDebug();
  }, 500);
  setInterval(() => {
    if (api.state === 'offline') refreshPoster();
  }, POSTER_MS);

  debugBox.hidden = !debug;
  refreshPoster();
  if (!format) {
    setState('offline', 'this stream has no HLS or DASH output');
  } else {
    setState('offline');
    loop();
  }
})();
