/*
 * Status page of a streamcluster node: polls /v1/streams and /v1/stats every
 * 2 s, lists the streams with their viewers per protocol, and plays one with
 * hls.js (low-latency HLS) in <video id="player">.
 *
 * ?play=app/name starts that stream at load (muted, so browsers allow the
 * autoplay). window.scPlayer exposes the player state for tests and the
 * console: {stream, url, engine: "hls.js"|"native"|null,
 * state: "idle"|"loading"|"playing"|"buffering"|"retrying"|"error",
 * errors: [last error messages], log: [last events, "12.3s what"],
 * hls: the Hls instance or null}.
 *
 * Stream names come from publishers: they only ever reach the DOM through
 * textContent and encodeURIComponent, never as HTML.
 */
'use strict';

(function () {
    const POLL_MS = 2000;
    const FETCH_TIMEOUT_MS = 5000;
    const RETRY_MS = 2000;   /* playlist not there yet (stream just started) */
    const MAX_ERRORS = 20;

    const $ = (id) => document.getElementById(id);
    const player = window.scPlayer = {
        stream: null, url: null, engine: null, state: 'idle', errors: [], log: [], hls: null,
    };
    const rows = new Map();  /* stream key -> {tr, cells} */
    let retryTimer = null;

    /* ------------------------------------------------------------ formatting */

    function bitrate(bps) {
        if (!bps) return '–';
        if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mb/s';
        return Math.round(bps / 1e3) + ' kb/s';
    }

    function duration(ms) {
        let s = Math.floor(ms / 1000);
        const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
        s %= 60;
        return (h ? h + 'h' : '') + (h || m ? m + 'm' : '') + s + 's';
    }

    function videoText(v) {
        if (!v || !v.codec || v.codec === 'none') return '–';
        return v.codec + (v.width ? ' ' + v.width + '×' + v.height : '');
    }

    function audioText(a) {
        if (!a || !a.codec || a.codec === 'none') return '–';
        const ch = a.channels === 1 ? ' mono' : a.channels === 2 ? ' stereo' : a.channels ? ' ' + a.channels + 'ch' : '';
        return a.codec + (a.sample_rate ? ' ' + (a.sample_rate / 1000) + ' kHz' : '') + ch;
    }

    /* "app/name" -> "/app/name" with each part URL-encoded. */
    function streamPath(key) {
        return '/' + key.split('/').map(encodeURIComponent).join('/');
    }

    function el(tag, props, children) {
        const e = document.createElement(tag);
        Object.assign(e, props || {});
        for (const c of children || []) e.append(c);
        return e;
    }

    /* ------------------------------------------------------------ polling */

    async function getJSON(url) {
        const ctl = new AbortController();
        const t = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
        try {
            const r = await fetch(url, { cache: 'no-store', signal: ctl.signal });
            if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
            return await r.json();
        } finally {
            clearTimeout(t);
        }
    }

    function showError(msg) {
        $('error').textContent = msg || '';
        $('error').hidden = !msg;
    }

    async function poll() {
        try {
            const [streams, stats] = await Promise.all([getJSON('/v1/streams'), getJSON('/v1/stats')]);
            /* {node, worker, streams: [...]}; a bare array is accepted too. */
            renderStreams(Array.isArray(streams) ? streams : streams.streams || []);
            renderStats(stats);
            showError('');
        } catch (e) {
            showError('cannot reach the node API: ' + e.message);
        }
        setTimeout(poll, POLL_MS);
    }

    function renderStats(s) {
        $('node').textContent = (s.node || '') + (s.role ? ' (' + s.role + ')' : '');
        const c = s.counters || {};
        $('summary').textContent = [
            'version ' + (s.version || '?'),
            'worker ' + (s.worker ?? '?'),
            (s.connections ?? 0) + ' RTMP connections',
            (s.streams ?? 0) + ' streams',
            (c.plays ?? 0) + ' plays / ' + (c.publishes ?? 0) + ' publishes since start',
            'updated ' + new Date().toLocaleTimeString(),
        ].join(' · ');
    }

    function renderStreams(list) {
        const seen = new Set();
        const tbody = $('streams').tBodies[0];
        for (const st of list) {
            if (typeof st.stream !== 'string') continue;
            seen.add(st.stream);
            let row = rows.get(st.stream);
            if (!row) {
                row = makeRow(st.stream);
                rows.set(st.stream, row);
                tbody.append(row.tr);
            }
            updateRow(row, st);
        }
        for (const [key, row] of rows) {
            if (!seen.has(key)) {
                row.tr.remove();
                rows.delete(key);
            }
        }
        $('empty').hidden = rows.size > 0;
    }

    function makeRow(key) {
        const path = streamPath(key);
        const cells = {};
        const td = (name, cls) => (cells[name] = el('td', { className: cls || '' }));
        const link = (text, href) => el('a', { textContent: text, href: href });
        const links = el('td', { className: 'links' }, [
            link('HLS', path + '.m3u8'),
            link('LL-HLS', path + '.ll.m3u8'),
            link('HTTP-FLV', path + '.flv'),
            el('code', {
                textContent: 'rtmp ' + path,
                title: 'rtmp://' + location.hostname + ':<RTMP port>' + path,
            }),
        ]);
        const button = el('button', { type: 'button', textContent: 'Play' });
        button.addEventListener('click', () => play(key, { muted: false }));
        const tr = el('tr', {}, [
            el('td', { textContent: key }), td('source'),
            td('rtmp', 'num'), td('hls', 'num'), td('flv', 'num'), td('rtsp', 'num'),
            td('bitrate', 'num'), td('video'), td('audio'), links, el('td', {}, [button]),
        ]);
        tr.dataset.stream = key;
        return { tr, cells };
    }

    function updateRow(row, st) {
        const v = st.viewers || {};
        const c = row.cells;
        if (st.publisher) {
            c.source.textContent = 'publisher ' + (st.publisher.peer || '') +
                (st.publisher.uptime_ms != null ? ', ' + duration(st.publisher.uptime_ms) : '');
        } else {
            c.source.textContent = st.source ? 'upstream (origin)' : 'no source';
        }
        for (const p of ['rtmp', 'hls', 'flv', 'rtsp']) c[p].textContent = String(v[p] || 0);
        c.bitrate.textContent = bitrate(st.bitrate_bps);
        c.video.textContent = videoText(st.video);
        c.audio.textContent = audioText(st.audio);
        row.tr.classList.toggle('current', st.stream === player.stream);
    }

    /* ------------------------------------------------------------ player */

    function push(list, msg) {
        list.push(msg);
        if (list.length > MAX_ERRORS) list.shift();
    }

    function trace(msg) {
        push(player.log, (performance.now() / 1000).toFixed(1) + 's ' + msg);
    }

    function note(msg) {
        push(player.errors, msg);
        trace(msg);
        console.warn('player:', msg);
    }

    function setState(s, detail) {
        if (s !== player.state) trace(s + (detail ? ' ' + detail : ''));
        player.state = s;
        $('player-state').textContent = s + (detail ? ': ' + detail : '');
    }

    function stop() {
        clearTimeout(retryTimer);
        retryTimer = null;
        if (player.hls) {
            player.hls.destroy();
            player.hls = null;
        }
        const video = $('player');
        video.pause();
        video.removeAttribute('src');
        video.load();
        Object.assign(player, { stream: null, url: null, engine: null });
        setState('idle');
        $('playback').hidden = true;
        for (const row of rows.values()) row.tr.classList.remove('current');
    }

    function start(video) {
        const url = player.url;
        if (window.Hls && window.Hls.isSupported()) {
            // Catch up (play at up to 1.5x) when behind the playlist's PART-HOLD-BACK target,
            // instead of staying as far behind live as the start-up buffering left it.
            const hls = new window.Hls({ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.5 });
            player.hls = hls;
            player.engine = 'hls.js';
            hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
                video.play().catch((e) => note('play() refused: ' + e.message));
            });
            hls.on(window.Hls.Events.MANIFEST_LOADED, () => trace('playlist loaded'));
            hls.on(window.Hls.Events.FRAG_BUFFERED, (_ev, d) => {
                if (d.frag.sn === 'initSegment' || player.state !== 'playing')
                    trace('buffered ' + d.frag.type + ' ' + d.frag.sn + (d.part ? '.' + d.part.index : ''));
            });
            hls.on(window.Hls.Events.ERROR, (_ev, data) => {
                const what = data.type + '/' + data.details + (data.response ? ' HTTP ' + data.response.code : '');
                if (!data.fatal) {
                    trace('recoverable ' + what);
                    return;
                }
                note(what);
                if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
                    hls.recoverMediaError();
                } else {
                    /* Network: the playlist is not there yet or the node
                     * restarted; start over after a pause. */
                    retry(video, data.details);
                }
            });
            hls.loadSource(url);
            hls.attachMedia(video);
        } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
            player.engine = 'native';
            video.src = url;
            video.play().catch((e) => note('play() refused: ' + e.message));
        } else {
            player.engine = null;
            note('this browser cannot play HLS');
            setState('error', 'no HLS support (MediaSource missing)');
        }
    }

    function retry(video, why) {
        if (player.hls) {
            player.hls.destroy();
            player.hls = null;
        }
        setState('retrying', why);
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => {
            retryTimer = null;
            if (player.stream) start(video);
        }, RETRY_MS);
    }

    function play(key, opts) {
        stop();
        const video = $('player');
        Object.assign(player, { stream: key, url: streamPath(key) + '.ll.m3u8', errors: [], log: [] });
        video.muted = !!opts.muted;
        $('playing').textContent = key;
        $('playback').hidden = false;
        setState('loading');
        const row = rows.get(key);
        if (row) row.tr.classList.add('current');
        start(video);
    }

    function wirePlayer() {
        const video = $('player');
        video.addEventListener('playing', () => setState('playing'));
        video.addEventListener('waiting', () => setState('buffering'));
        video.addEventListener('error', () => {
            const e = video.error;
            note('video element error ' + (e ? e.code + ' ' + (e.message || '') : ''));
            if (player.engine === 'native') retry(video, 'native playback error');
        });
        $('stop').addEventListener('click', stop);
    }

    wirePlayer();
    poll();
    const wanted = new URLSearchParams(location.search).get('play');
    if (wanted && /^[^/]+\/.+/.test(wanted)) play(wanted, { muted: true });
})();
