// A Broadcast's page (streamops/media/ingest/player/broadcast.py serves it under each of its streams'
// prefixes, at broadcasts/<name>/player; docs/design/broadcasts.md). It polls the broadcast's state
// document (state.json beside it) every 2 s and plays the stream on air with hls.js (or the browser's
// own HLS), switching to another stream when the operator puts another on air, and showing the
// broadcast's message while it is pending, paused or finished: no reload, ever.
//
// Signed streams: the page's own URL may sit under its stream's token (<prefix>/t/<token>/broadcasts/
// ...), so its relative requests carry that token; the other streams' tokens come in the URL's
// fragment (#t=<stream>:<token>,<stream>:<token>, as `streamops playback url --broadcast` writes it),
// which browsers never send to a server. When the state cannot be fetched where the page came from
// (that stream's ingest stopped), the page asks the other streams' ingests for it.
//
// For tests, window.streamopsBroadcast: {state (the last document), phase, onAir, source (the URL
// playing), loads (how many sources were loaded), polls, failures, since (the page's start, ms)}.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const options = JSON.parse(document.getElementById('streamops-broadcast-options').textContent);
  const video = document.getElementById('video');
  const message = document.getElementById('message');
  const title = document.getElementById('title');
  const sid = Math.random().toString(36).slice(2, 12);
  const tokens = {};
  for (const pair of (new URLSearchParams(location.hash.slice(1)).get('t') || '').split(',')) {
    const at = pair.indexOf(':');
    if (at > 0) tokens[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const view = window.streamopsBroadcast = {
    state: null, phase: null, onAir: null, source: null, loads: 0, polls: 0, failures: 0, since: Date.now(),
  };
  let hls = null;

  const MESSAGES = {
    Pending: 'The broadcast has not started yet',
    Paused: 'The broadcast is paused',
    Finished: 'The broadcast has ended',
  };

  function memberBase(member) {
    // A signed stream's requests go under its token; the page's own stream's token is in the page's
    // path already when the page was opened through it, which relative URLs keep.
    if (!member.base) return null;
    if (!member.signed) return member.base;
    const token = tokens[member.name];
    return token ? `${member.base}/t/${encodeURIComponent(token)}` : null;
  }

  function withSid(url) {
    return url + (url.includes('?') ? '&' : '?') + '_sid=' + sid;
  }

  function stop() {
    if (!hls && view.source === null) return; // nothing loaded: the polls while paused touch nothing
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute('src');
    video.load();
    view.source = null;
  }

  function play(url) {
    if (view.source === url) return;
    stop();
    view.source = url;
    view.loads += 1;
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ lowLatencyMode: true, xhrSetup: (xhr, u) => xhr.open('GET', withSid(u), true) });
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (data.fatal) { stop(); } // the next poll loads it again
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = withSid(url);
    }
    video.play().catch(() => {});
  }

  function show(state) {
    view.state = state;
    view.phase = state.phase;
    document.body.dataset.phase = state.phase;
    document.title = state.title || state.name;
    title.textContent = state.title || state.name;
    const member = state.phase === 'Live' ? state.members.find((m) => m.name === state.onAir) : null;
    view.onAir = member ? member.name : null;
    title.dataset.on = String(!!member);
    if (!member) {
      stop();
      message.textContent = (state.phase === 'Pending' && state.message) || MESSAGES[state.phase] || MESSAGES.Pending;
      message.hidden = false;
      return;
    }
    const base = memberBase(member);
    if (!base || !member.hls) {
      stop();
      message.textContent = base ? `${member.name} has no HLS playback` : `${member.name} needs a signed URL for this page`;
      message.hidden = false;
      return;
    }
    message.hidden = true;
    play(`${base}/${member.hls}`);
  }

  function stateUrls() {
    // Where the page came from first, then the other streams' copies of the same document.
    const urls = [options.state];
    for (const member of (view.state || options.initial).members) {
      const base = memberBase(member);
      if (base) urls.push(`${base}/broadcasts/${encodeURIComponent(options.broadcast)}/${options.state}`);
    }
    return urls;
  }

  async function poll() {
    view.polls += 1;
    for (const url of stateUrls()) {
      try {
        const answer = await fetch(url, { cache: 'no-store' });
        if (answer.ok) { show(await answer.json()); return; }
      } catch (e) { /* that ingest is away: the next one */ }
    }
    view.failures += 1;
  }

  function load(src) {
    return new Promise((resolve) => {
      if (!src) { resolve(); return; }
      const script = document.createElement('script');
      script.src = src;
      script.onload = script.onerror = () => resolve();
      document.head.appendChild(script);
    });
  }

  load(options.scripts.hls).then(() => {
    show(options.initial);
    setInterval(poll, POLL_MS);
  });
})();
