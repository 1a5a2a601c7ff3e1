// The VOD page of one recorded video (streamops/storage/vod_page.py renders it, with this script
// inlined: the page is one object, stored next to the video in the bucket). What to play comes in
// the page URL's fragment, which never reaches a server: #v=<base64url of JSON {t: title, r:
// [{n: rendition name, w, h, u: URL of its MP4}] (tallest first)}>, optionally &q=<rendition>
// (the quality to start with; default the tallest) and &autoplay=1 (muted, as browsers allow).
// `streamops video page` prints such a URL, every link in it presigned with the same expiry.
//
// Embeddable in an iframe on any origin. The embedding page may talk to it with postMessage:
// {streamopsVod: 'quality', quality: '360p'} switches the quality (keeping the position and
// play/pause); the page posts {streamopsVod: 'state', state, quality, qualities, currentTime,
// readyState, videoHeight, error} to its parent at each change (and every second while playing).
//
// For tests, window.streamopsPlayer: {mode: 'vod', state ('loading'|'ready'|'playing'|'paused'|
// 'ended'|'error'), quality, qualities, switches, error, video, setQuality(name)}.
(function () {
  'use strict';

  const video = document.getElementById('video');
  const overlay = document.getElementById('overlay');
  const menu = document.getElementById('quality');
  const fragment = new URLSearchParams(location.hash.slice(1));
  const api = { mode: 'vod', state: 'loading', quality: null, qualities: [], switches: 0, error: null, video };
  window.streamopsPlayer = api;

  function say(text) {
    overlay.textContent = text;
    overlay.hidden = !text;
  }

  function report() {
    document.body.dataset.state = api.state;
    if (window.parent === window) return;
    window.parent.postMessage({
      streamopsVod: 'state', state: api.state, quality: api.quality, qualities: api.qualities.map((q) => q.n),
      currentTime: video.currentTime, readyState: video.readyState, videoHeight: video.videoHeight,
      error: api.error,
    }, '*');
  }

  function fail(message) {
    api.state = 'error';
    api.error = message;
    say(message);
    report();
  }

  function decoded(text) { // base64url → JSON
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  let source;
  try {
    source = decoded(fragment.get('v') || '');
  } catch (e) {
    source = null;
  }
  if (!source || !Array.isArray(source.r) || !source.r.length) {
    fail('No video to play: this page needs the link `streamops video page` prints (its #fragment names the video).');
    return;
  }
  api.qualities = source.r;
  if (source.t) document.title = source.t;

  function setQuality(name) {
    const chosen = api.qualities.find((q) => q.n === name);
    if (!chosen || chosen.n === api.quality) return false;
    const at = video.currentTime;
    const playing = api.quality !== null && !video.paused && !video.ended;
    if (api.quality !== null) api.switches += 1;
    api.quality = chosen.n;
    menu.value = chosen.n;
    api.error = null;
    say('');
    video.src = chosen.u;
    if (at > 0) {
      video.addEventListener('loadedmetadata', () => { video.currentTime = Math.min(at, video.duration || at); }, { once: true });
    }
    if (playing || (api.switches === 0 && fragment.get('autoplay') === '1')) {
      video.muted = video.muted || fragment.get('autoplay') === '1';
      video.play().catch(() => {}); // refused autoplay: the controls are there
    }
    report();
    return true;
  }
  api.setQuality = setQuality;

  for (const q of api.qualities) {
    const option = document.createElement('option');
    option.value = q.n;
    option.textContent = q.h ? `${q.n} (${q.w}×${q.h})` : q.n;
    menu.appendChild(option);
  }
  menu.hidden = api.qualities.length < 2;
  menu.addEventListener('change', () => setQuality(menu.value));

  const stateOf = () => (video.ended ? 'ended' : video.paused ? (video.readyState >= 1 ? 'paused' : 'loading') : 'playing');
  for (const event of ['loadedmetadata', 'canplay', 'playing', 'pause', 'ended', 'seeked']) {
    video.addEventListener(event, () => { if (api.state !== 'error' || !video.error) { api.state = stateOf(); report(); } });
  }
  video.addEventListener('error', () => {
    // A presigned link past its expiry answers 403: the browser only says the source failed.
    fail(`The video (${api.quality}) cannot be loaded: the link may have expired; ask for a new one.`);
  });
  setInterval(() => { if (!video.paused) report(); }, 1000);

  window.addEventListener('message', (event) => {
    const data = event.data;
    if (data && data.streamopsVod === 'quality' && typeof data.quality === 'string') setQuality(data.quality);
  });

  const wanted = fragment.get('q');
  setQuality(api.qualities.some((q) => q.n === wanted) ? wanted : api.qualities[0].n);
}());
