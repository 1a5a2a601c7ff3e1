// The ingest's player page (streamops/media/ingest/player/page.py serves it, with the stream's options as
// JSON in #streamops-player-options). WebRTC (WHEP) first when the stream serves it, else hls.js (or
// dash.js with ?format=dash) plays the stream in the <video>. Without a live stream the page shows the
// stream's screenshot and "offline", and looks again every 2 s: a page opened before the stream goes
// live starts playing by itself when it does. A stream whose video this browser cannot decode (hls.js's
// codec errors: HEVC in Chrome on most systems) stays "offline" with the reason shown ("this browser
// cannot decode this stream's video (video/mp4;codecs=...)") and is tried again every 30 s.
//
// Query parameters: format=auto|webrtc|hls|dash (auto, the default: WebRTC when the stream serves
// WHEP, this browser has RTCPeerConnection and the WHEP POST answers 201 within a few seconds, else
// HLS; webrtc: WHEP only, retried while the stream is not live; hls, dash: that format only),
// latency=standard (hls.js without its low-latency mode, for comparisons), debug=1 (a line of
// numbers over the video), ice=relay (WebRTC through the TURN servers only: iceTransportPolicy relay,
// to check a TURN setup).
//
// WebRTC in auto mode: a WHEP 404 (the stream is not live) or 503 (the ingest's WebRTC restarts)
// leaves the page waiting as HLS does (HLS plays if it can), and WHEP is tried again every few
// seconds (every 10 s while HLS plays: WebRTC takes over when it answers 201); another answer (403
// no WHEP, 409 a source WebRTC cannot play, 406 ...), no answer within 5 s, or a connection that
// fails (ICE failed, or disconnected for more than 5 s) falls back to HLS for the rest of the page's
// life. Non-trickle ICE: the complete offer is POSTed once gathered (at most 2 s).
// The WHEP session is DELETEd when the page goes away (pagehide) or leaves WebRTC.
//
// For tests, window.streamopsPlayer: {state: 'offline'|'live'|'ended', mode and format (the same:
// 'webrtc'|'hls'|'dash'|null, what plays or is tried next), requested ('auto'|'webrtc'|'hls'|'dash'),
// fallback (why WebRTC was given up, or null), firstFrame ({mode, ms since the page's start,
// sinceStartMs since its engine started, sincePostMs since the WHEP POST (WebRTC), shownAt on the
// Date.now() clock} of the first picture shown, or null), webrtc ({status, body, location, offer,
// answer, connectionState, attempts} of the last WHEP exchange; stats()), video, stalls, engine,
// goLive(), behind, latency, starts, error, lowLatency, projection (null for a regular stream; else
// projection.js's view: {name, ready, error, yaw, pitch, look(), turn(), centre(), ...})}, and a
// 'streamopsplayer' event on window at each change of state.
//
// A stream whose projection is vr360, vr180 or vr360tb (options.projection) is drawn on a sphere by
// projection.js with three.js (docs/design/projection.md), the <video> its texture, whatever plays it;
// a regular stream's page loads neither.
//
// The page may sit in an iframe on another origin: it never reaches out of its own frame.
//
// Every manifest, playlist, part, segment and WHEP request carries ?_sid=<random, per page load>: the
// ingest and the edges count viewers per page, not per address (docs/design/playback.md). Every URL
// is relative to the page, so a signed page (<prefix>/t/<token>/player) fetches inside its token.
(function () {
  'use strict';

  const RETRY_MS = 2000; // offline: how often the manifest is looked at again
  const POSTER_MS = 10000; // offline: how often the screenshot is fetched again
  const BENIGN_DASH_ERRORS = new Set([16, 33]); // time sync failed (falls back), a subtitle did not parse
  const WHEP_RETRY_MS = 3000; // WHEP answered 404 (not live): again after this
  const WHEP_UPGRADE_MS = 10000; // ... while HLS/DASH plays instead
  const WHEP_ANSWER_MS = 5000; // no answer to the WHEP POST within this: HLS
  const ICE_GRACE_MS = 5000; // ICE disconnected this long: HLS
  const CONNECT_MS = 10000; // a 201 whose connection is not up after this: HLS
  const SILENT_MS = 4000; // WebRTC connected but no video packet for this long: offline (the source left)
  // hls.js's errors for a codec this browser does not decode (HEVC in Chrome on most systems): the
  // page says so and tries again only this often, staying offline until a picture shows.
  const CODEC_ERRORS = new Set(['manifestIncompatibleCodecsError', 'bufferIncompatibleCodecsError', 'bufferAddCodecError']);
  const UNDECODABLE_RETRY_MS = 30000;

  const options = JSON.parse(document.getElementById('streamops-player-options').textContent);
  const params = new URLSearchParams(location.search);
  const video = document.getElementById('video');
  const overlay = document.getElementById('overlay');
  const liveButton = document.getElementById('live');
  const debugBox = document.getElementById('debug');

  // 16 hex digits from crypto.getRandomValues (randomUUID needs a secure context; plain http is not one).
  const sid = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  function withSid(url) { // url relative to the page, or absolute
    const u = new URL(url, location.href);
    u.searchParams.set('_sid', sid);
    return u.href;
  }

  const asked = params.get('format');
  const requested = ['auto', 'webrtc', 'hls', 'dash'].includes(asked) ? asked : 'auto';
  // The HTTP format: the one that plays unless WebRTC does (none with format=webrtc).
  const format = requested === 'webrtc' ? null
    : (requested === 'dash' && options.dash) ? 'dash' : options.hls ? 'hls' : options.dash ? 'dash' : null;
  const manifestUrl = format && withSid(format === 'hls' ? options.hls : options.dash);
  const lowLatency = format === 'hls' && options.lowLatency && params.get('latency') !== 'standard';
  const debug = params.get('debug') === '1';
  const relayOnly = params.get('ice') === 'relay';
  const whepUrl = options.whep ? withSid(options.whep) : null;
  const rtcAvailable = typeof window.RTCPeerConnection === 'function';
  // Why WebRTC is not tried (null: it is)
  const noWebRtc = requested !== 'auto' && requested !== 'webrtc' ? `format=${requested}`
    : !whepUrl ? 'this stream does not serve WebRTC (WHEP)'
      : !rtcAvailable ? 'this browser has no WebRTC (RTCPeerConnection)'
        : !(options.scripts && options.scripts.webrtc) ? 'webrtc.js is missing from the worker' : null;

  let engine = null; // hls.js, dash.js or the WebRTC session playing now (null: offline)
  let manifest = null; // what probe() found when it started: {url, target, lowLatency}
  let playing = false; // 'playing' seen since the engine started: 'waiting' after it is a stall
  let webrtcBroken = null; // auto: why WebRTC was given up for good (then HLS/DASH only)
  let nextWhepAt = 0; // performance.now() of the next WHEP attempt
  const pageStart = performance.now();

  const api = {
    state: 'offline',
    mode: requested === 'webrtc' || !noWebRtc ? 'webrtc' : format,
    get format() { return this.mode; },
    requested,
    sid,
    fallback: null,
    firstFrame: null,
    webrtc: {
      status: null, body: null, location: null, offer: null, answer: null, attempts: 0, error: null,
      get connectionState() { return engine && engine.webrtc ? engine.pc.connectionState : 'closed'; },
      stats: () => webrtcStats(),
    },
    video,
    stalls: 0,
    engine: null,
    lowLatency,
    starts: 0, // engines started (a new one after each offline spell)
    error: null, // why the page is offline, when it knows
    refused: null, // the PlaybackPolicy rule that refused this viewer (X-Streamops-Refused), if one did
    goLive,
    get behind() { return behindSeconds(); }, // seconds behind the live edge the player aims at
    get latency() { return latencySeconds(); }, // seconds from the live edge (NaN when unknown)
    projection: null, // the 360°/180° view (projection.js), for a stream that is not regular
  };
  window.streamopsPlayer = api;

  // --- state -------------------------------------------------------------------------------------

  let announced = false; // the embedding page has been told the state
  const CANNOT_DECODE = 'this browser cannot decode';
  const REFUSED = 'playback refused by the stream\'s rules';
  let undecodable = null; // {retryAt}: the stream's video failed to decode here (CODEC_ERRORS)
  function setState(state, why) {
    api.error = state === 'offline' ? (why || null) : null;
    const changed = api.state !== state;
    api.state = state;
    document.body.dataset.state = state;
    document.body.dataset.mode = api.mode || '';
    overlay.hidden = state === 'live';
    overlay.textContent = state;
    if (why && (debug || why.includes('make player') || why.startsWith(CANNOT_DECODE) || why.startsWith(REFUSED) ||
        (!format && noWebRtc))) {
      const small = document.createElement('small');
      small.textContent = why;
      overlay.appendChild(small);
    }
    liveButton.hidden = state !== 'live';
    if (changed) {
      log(`state ${state}${why ? ` (${why})` : ''}`);
      if (state === 'offline') refreshPoster();
      window.dispatchEvent(new CustomEvent('streamopsplayer', { detail: { state, mode: api.mode } }));
    }
    // Embedded: the embedding page learns the state the way video embeds tell it (a message, no
    // access to the parent's document either way); the first state too, though it is no change.
    if (window.parent !== window && (changed || !announced)) {
      announced = true;
      window.parent.postMessage({ source: 'streamops-player', state, format: api.mode }, '*');
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
      if (!response.ok) {
        // A signed stream's refusal (401, 403) says why in one line: shown as it is.
        const said = response.status === 401 || response.status === 403 ? `: ${(await response.text()).trim()}` : '';
        // A PlaybackPolicy's refusal names its rule (X-Streamops-Refused: address, country, referrer,
        // user_agent, or the server's geoip_unavailable, rules_unavailable): shown to the viewer.
        const rule = response.headers.get('X-Streamops-Refused');
        if (rule) {
          const line = (said || `: ${(await response.text()).trim()}`).slice(2);
          return { status: 'missing', refused: rule, why: `${REFUSED} (${rule}): ${line}` };
        }
        return { status: 'missing', why: `${response.status} for the manifest${said}` };
      }
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
    const latency = mpd.getElementsByTagNameNS('*', 'Latency')[0]; // its target, in ms
    const targetLatency = latency ? Number(latency.getAttribute('target')) / 1000 || null : null;
    if (mpd.getAttribute('type') !== 'dynamic') return { status: 'ended', url, target, lowLatency: ll };
    const segments = dashSegmentCount(mpd); // likewise, for the live delay of 2 segments below
    if (!ll && segments < 2) return { status: 'missing', why: `${segments} segments so far` };
    return { status: isFresh(response, target) ? 'fresh' : 'stale', url, target, lowLatency: ll, targetLatency };
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
    if (engine && engine.webrtc) {
      await webrtcTick(engine);
      return;
    }
    if (wantWebRtc() && performance.now() >= nextWhepAt) {
      const outcome = await tryWebRtc();
      if (outcome.started) return;
      nextWhepAt = performance.now() + (engine ? WHEP_UPGRADE_MS : WHEP_RETRY_MS);
      if (!format) { // format=webrtc (or a stream with WHEP only): wait for WHEP
        if (!engine) setState('offline', outcome.why);
        return;
      }
    }
    if (!format) {
      if (!engine && !wantWebRtc()) setState('offline', noWebRtc || webrtcBroken || 'nothing to play');
      return;
    }
    await httpTick();
  }

  async function httpTick() {
    const running = engine;
    if (!running || api.state === 'ended') {
      const found = await probe(manifestUrl);
      if (engine !== running) return; // an engine failed or started meanwhile: next tick
      if (found.status === 'ended' && running) return; // still the ended session, playable
      if (running) stop(); // ended, and now a new session (or nothing at all)
      if (undecodable && performance.now() < undecodable.retryAt) return; // still saying why
      api.refused = found.refused || null;
      if (found.status === 'fresh' || found.status === 'ended') await start(found);
      else offline(found.why || (found.status === 'stale' ? 'not live' : null));
      return;
    }
    const verdict = await check(manifest.url, manifest.target);
    if (engine !== running || api.state !== 'live') return;
    if (verdict === 'missing' || verdict === 'stale') {
      stop();
      offline(`manifest ${verdict}`);
    }
  }

  // Offline, and what is tried next is what the page shows as its mode.
  function offline(why) {
    api.mode = requested === 'webrtc' || wantWebRtc() ? 'webrtc' : format;
    setState('offline', why);
  }

  let wake = null; // resolves the loop's wait early (a failure to act on now)
  async function loop() {
    for (;;) {
      try {
        await tick();
      } catch (e) {
        log(`tick: ${e}`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, RETRY_MS);
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = null;
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
      offline(`${name} is missing from the worker: run make player`);
      return;
    }
    try {
      await loadScript(src);
    } catch (e) {
      offline(String(e.message || e));
      return;
    }
    if (engine) return;
    const ended = found.status === 'ended';
    manifest = found;
    playing = false;
    video.muted = true;
    video.autoplay = !ended; // an ended stream's window plays when asked to
    api.mode = format;
    engine = api.engine = format === 'hls' ? startHls(ended) : startDash(found, ended);
    engine.startedAt = performance.now();
    watchFirstFrame(engine);
    api.starts += 1;
    if (!undecodable) setState(ended ? 'ended' : 'live'); // else: offline, saying why, until a picture shows
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
    video.srcObject = null;
    video.removeAttribute('src'); // back to the poster
    video.load();
  }

  // An engine gave up (manifest gone, fatal error): offline, and the loop tries again in 2 s.
  function fail(failed, why) {
    if (failed !== engine) return;
    stop();
    offline(why);
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
    const settings = lowLatency ? { lowLatencyMode: true } : { lowLatencyMode: false, liveSyncDurationCount: syncSegments };
    // Opened here with the session's _sid (hls.js opens the request itself only when this did not).
    settings.xhrSetup = (xhr, url) => { xhr.open('GET', withSid(url), true); };
    const hls = new Hls(settings);
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (CODEC_ERRORS.has(data.details)) {
        undecodable = { retryAt: performance.now() + UNDECODABLE_RETRY_MS };
        fail(hls, `${CANNOT_DECODE} this stream's video${data.mimeType ? ` (${data.mimeType})` : ''}`);
        return;
      }
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
    player.addRequestInterceptor((request) => { // every MPD, init and media segment request: the _sid
      request.url = withSid(request.url);
      return Promise.resolve(request);
    });
    // A low-latency MPD (ServiceDescription, availabilityTimeOffset; not with ?latency=standard):
    // dash.js's low-latency mode (chunked segments read as they arrive), its live delay the MPD's
    // target latency, held by playing up to 20 % faster or slower, a seek back to it past 3 s of
    // drift (docs/design/low-latency.md). Otherwise 3 segments behind the edge (dash.js's default
    // is 4; Shaka's 1.5 × minBufferTime, 3 here). dash.js counts from the wall clock's edge, not from
    // the newest complete segment as hls.js does, and learns of a segment at its next MPD refresh
    // (every 2 s): a segment is appended ≈1.2 s after the edge passed its end, so the buffer's floor
    // is the delay − 1 segment − 1.2 s. At 2 it ran empty before every segment; at 2.5 it fell to
    // 0.25 s at load 11-29 and ran dry once in CI; 3 keeps ≈0.8 s more (docs/design/low-latency.md).
    // ?liveDelaySegments=2.5 restores the old delay.
    api.lowLatency = Boolean(found.lowLatency) && params.get('latency') !== 'standard';
    if (api.lowLatency) {
      const delay = found.targetLatency ? { liveDelay: found.targetLatency } : {};
      const catchup = { enabled: true, maxDrift: 3, playbackRate: { min: -0.2, max: 0.2 } };
      player.updateSettings({ streaming: { delay, liveCatchup: catchup } });
    } else {
      const delaySegments = Number(params.get('liveDelaySegments')) || 3;
      player.updateSettings({ streaming: { delay: { liveDelayFragmentCount: delaySegments } } });
    }
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

  // --- WebRTC (WHEP) ------------------------------------------------------------------------------

  function wantWebRtc() {
    return !noWebRtc && !webrtcBroken;
  }

  // Give WebRTC up for the rest of the page's life (auto; format=webrtc keeps trying).
  function giveUpWebRtc(why) {
    api.fallback = why;
    if (requested === 'auto' && format) {
      webrtcBroken = why;
      log(`WebRTC given up: ${why}; ${format} from now on`);
    }
  }

  // One WHEP exchange: {started: true} when WebRTC plays now, else {why}. Errors other than
  // "not live" give WebRTC up (auto).
  async function tryWebRtc() {
    const rtc = await loadScript(options.scripts.webrtc).then(() => window.streamopsRtc, (e) => {
      giveUpWebRtc(String(e.message || e));
      return null;
    });
    if (!rtc) return { why: webrtcBroken };
    api.webrtc.attempts += 1;
    let pc = null;
    try {
      pc = rtc.peerConnection(options.iceServers, { relay: relayOnly });
      const stream = new MediaStream();
      for (const kind of ['video', 'audio']) {
        rtc.preferCodecs(pc.addTransceiver(kind, { direction: 'recvonly' }), kind, 'recvonly');
      }
      pc.addEventListener('track', (event) => stream.addTrack(event.track));
      const result = await rtc.exchange(pc, whepUrl, { answerTimeoutMs: WHEP_ANSWER_MS });
      Object.assign(api.webrtc, {
        status: result.status, body: result.body, location: result.location, offer: result.offer,
        answer: result.answer, error: null,
      });
      // Not live (or no WHEP route at all), or the ingest's WebRTC restarting: wait, as HLS does
      // (HLS plays meanwhile when it can)
      if (result.status === 404 || result.status === 502 || result.status === 503 || result.status === 504) {
        pc.close();
        return { why: `WebRTC: ${result.body.trim() || 'not live'}` };
      }
      if (result.status !== 201) {
        pc.close();
        giveUpWebRtc(`WHEP answered ${result.status}: ${result.body.trim().slice(0, 200)}`);
        return { why: api.fallback };
      }
      if (engine && engine.webrtc) { // another session won meanwhile
        pc.close();
        rtc.remove(result.location);
        return { started: true };
      }
      startWebRtc(rtc, pc, stream, result);
      return { started: true };
    } catch (e) {
      if (pc) pc.close();
      api.webrtc.error = String(e.message || e);
      giveUpWebRtc(`WebRTC: ${api.webrtc.error}`);
      return { why: api.fallback };
    }
  }

  function startWebRtc(rtc, pc, stream, result) {
    if (engine) stop(); // HLS or DASH played meanwhile: WebRTC takes over
    const session = {
      webrtc: true,
      pc,
      location: result.location,
      postedAt: result.postedAt,
      startedAt: performance.now(),
      connected: false,
      packets: 0, // video packets received when last looked at
      progressAt: performance.now(), // when they last grew (or the session started)
      destroy() {
        unwatch();
        clearTimeout(connectTimer);
        // DELETE, then close: closed first, the ingest would end the session itself and answer 404
        rtc.remove(this.location).finally(() => pc.close());
      },
    };
    let connectTimer = null;
    const failed = (why) => {
      if (session !== engine) return;
      giveUpWebRtc(why);
      stop();
      offline(why);
      if (wake) wake(); // HLS now, not in 2 s
    };
    const unwatch = rtc.watch(pc, {
      onConnected: () => {
        session.connected = true;
        clearTimeout(connectTimer);
      },
      onFailed: failed,
    }, ICE_GRACE_MS);
    connectTimer = setTimeout(() => {
      const state = pc.iceConnectionState;
      if (!session.connected && state !== 'connected' && state !== 'completed') {
        failed(`WebRTC: not connected ${CONNECT_MS / 1000} s after the answer`);
      }
    }, CONNECT_MS);
    playing = false;
    api.mode = 'webrtc';
    engine = api.engine = session;
    video.muted = true;
    video.autoplay = true;
    video.srcObject = stream;
    watchFirstFrame(session);
    play();
    api.starts += 1;
    setState('live');
  }

  // Connected, the stream is live while video packets arrive; the session stays up while the source
  // is away (the ingest keeps its viewers and sends the next source's keyframe). Silent for longer
  // than HLS would call its playlist stale while HLS is fresh (auto): WebRTC gets no video although
  // the stream is live (e.g. the ingest stopped feeding WHEP), so HLS for good.
  async function webrtcTick(session) {
    const video_ = await inboundVideo(session.pc);
    if (session !== engine) return;
    const now = performance.now();
    if (video_ && video_.packetsReceived > session.packets) {
      session.packets = video_.packetsReceived;
      session.progressAt = now;
      if (api.state !== 'live') setState('live');
      return;
    }
    const silent = now - session.progressAt;
    if (silent <= SILENT_MS) return;
    if (api.state === 'live') setState('offline', 'no video from the ingest');
    if (requested !== 'auto' || !format || now < (session.probeAt || 0)) return;
    session.probeAt = now + RETRY_MS * 2;
    const found = await probe(manifestUrl);
    if (session !== engine || found.status !== 'fresh' || silent <= staleAfterMs(found.target)) return;
    const why = `WebRTC: no video for ${Math.round(silent / 1000)} s while ${format} is live`;
    giveUpWebRtc(why);
    stop();
    offline(why);
    if (wake) wake();
  }

  async function inboundVideo(pc) {
    try {
      let found = null;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') found = s;
      });
      return found;
    } catch (e) {
      return null;
    }
  }

  async function webrtcStats() {
    const session = engine && engine.webrtc ? engine : null;
    const out = { connectionState: session ? session.pc.connectionState : 'closed' };
    if (!session) return out;
    const report = await session.pc.getStats();
    // The pair in use: the transport's selectedCandidatePairId (what Chromium reports), else the
    // nominated, succeeded pair (a relay-only session once had none flagged nominated yet).
    let selectedId = null;
    report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) selectedId = s.selectedCandidatePairId; });
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        const codec = s.codecId ? report.get(s.codecId) : null;
        out[s.kind] = {
          packets: s.packetsReceived, bytes: s.bytesReceived, packetsLost: s.packetsLost,
          framesDecoded: s.framesDecoded, framesDropped: s.framesDropped,
          jitterBufferDelay: s.jitterBufferDelay, jitterBufferEmittedCount: s.jitterBufferEmittedCount,
          codec: codec ? `${codec.mimeType} ${codec.sdpFmtpLine || ''}`.trim() : null,
        };
      }
      if (s.type === 'candidate-pair' && (selectedId ? s.id === selectedId : s.nominated && s.state === 'succeeded')) {
        const local = report.get(s.localCandidateId);
        const remote = report.get(s.remoteCandidateId);
        out.selectedPair = `${local.address}:${local.port}/${local.protocol} -> ${remote.address}:${remote.port}/${remote.protocol}`;
        out.selectedPairTypes = { local: local.candidateType, remote: remote.candidateType }; // host, srflx, prflx, relay
      }
    });
    return out;
  }

  // The first picture the page shows (once per page: api.firstFrame).
  function watchFirstFrame(running) {
    if (api.firstFrame) return;
    const seen = (shownAt, displayTime) => {
      if (api.firstFrame || running !== engine) return;
      if (undecodable) { // it decodes after all (another session, another codec)
        undecodable = null;
        setState('live');
      }
      api.firstFrame = {
        mode: api.mode,
        ms: displayTime - pageStart,
        sinceStartMs: displayTime - running.startedAt,
        sincePostMs: running.webrtc ? displayTime - running.postedAt : null,
        shownAt,
      };
      log(`first frame (${api.mode}) after ${api.firstFrame.ms.toFixed(0)} ms`);
    };
    if (typeof video.requestVideoFrameCallback === 'function') {
      const onFrame = (_, metadata) => seen(performance.timeOrigin + metadata.expectedDisplayTime, metadata.expectedDisplayTime);
      // A new source starts a load (in a later task) that drops earlier requests: ask again then.
      video.addEventListener('loadstart', () => video.requestVideoFrameCallback(onFrame), { once: true });
      video.requestVideoFrameCallback(onFrame);
    }
    // A hidden page presents no frames (no callback): then 'playing' is the first frame's time.
    video.addEventListener('playing', () => {
      if (typeof video.requestVideoFrameCallback !== 'function' || document.visibilityState !== 'visible') {
        seen(Date.now(), performance.now());
      }
    }, { once: true });
  }

  // --- the live edge and DVR ----------------------------------------------------------------------

  function latencySeconds() {
    if (!engine || engine.native || engine.webrtc) return NaN;
    if (api.mode === 'hls') return engine.latestLevelDetails ? engine.latency : NaN;
    const latency = engine.getCurrentLiveLatency();
    return Number.isFinite(latency) ? latency : NaN;
  }

  function behindSeconds() {
    if (!engine || engine.native || engine.webrtc || api.state !== 'live') return 0;
    const target = api.mode === 'hls' ? engine.targetLatency : engine.getTargetLiveDelay();
    const latency = latencySeconds();
    if (!(latency > 0) || !(target > 0)) return 0;
    return Math.max(0, latency - target);
  }

  function goLive() {
    if (!engine || api.state !== 'live') return;
    if (engine.webrtc) {
      // always at the edge
    } else if (engine.native) {
      if (video.seekable.length) video.currentTime = video.seekable.end(video.seekable.length - 1);
    } else if (api.mode === 'hls') {
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
    let version = '-';
    if (engine && engine.webrtc) version = engine.pc.connectionState;
    else if (engine && !engine.native) version = api.mode === 'hls' ? window.Hls.version : engine.getVersion();
    debugBox.textContent = [
      `${api.state} ${api.mode || '-'} ${version}${api.lowLatency && (api.mode === 'hls' || api.mode === 'dash') ? ' low-latency' : ''}`,
      `t ${video.currentTime.toFixed(2)}  seekable ${seekable}  buffer ${buffered.toFixed(2)} s`,
      `latency ${latencySeconds().toFixed(2)} s  behind ${behindSeconds().toFixed(2)} s`,
      `stalls ${api.stalls}  starts ${api.starts}${api.error ? `  ${api.error}` : ''}`,
      ...(api.fallback ? [`fallback: ${api.fallback}`] : []),
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
  // Leaving the page ends the WHEP session at once (else the ingest ends it when ICE fails, ≈15 s).
  // The page's teardown closes the peer connection.
  window.addEventListener('pagehide', () => {
    if (engine && engine.webrtc && engine.location) {
      fetch(engine.location, { method: 'DELETE', keepalive: true, credentials: 'omit' }).catch(() => {});
      engine.location = null;
    }
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload(); // back from the back/forward cache: the session is gone
  });

  setInterval(() => {
    updateLiveButton();
    if (debug) updateDebug();
  }, 500);
  setInterval(() => {
    if (api.state === 'offline') refreshPoster();
  }, POSTER_MS);

  // 360°/180°: projection.js (and three.js, which it imports) only for a stream that is not regular.
  if (options.projection) {
    const missing = !options.scripts.three ? 'three.js is missing from the worker: run make player'
      : !options.scripts.projection ? 'projection.js is missing from the worker' : null;
    api.projection = { name: options.projection, ready: false, error: missing };
    if (!missing) {
      loadScript(options.scripts.projection).then(() => {
        api.projection = window.streamopsProjection.start(video, options.projection, options.scripts.three);
      }, (e) => { api.projection.error = String(e.message || e); });
    }
  }

  debugBox.hidden = !debug;
  refreshPoster();
  if (!format && noWebRtc) {
    setState('offline', requested === 'webrtc' ? noWebRtc : 'this stream has no HLS or DASH output');
  } else {
    setState('offline');
    loop();
  }
})();
