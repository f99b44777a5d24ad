#!/usr/bin/env python3
"""HEVC and AV1 published over enhanced RTMP play as fMP4 HLS from an edge.

Debian's ffmpeg 5.1 cannot publish HEVC/AV1 over RTMP, so each test encodes
a short clip (testsrc 320x240, 25 fps, a keyframe every second, AAC; HEVC
with B-frames) to MP4 with libx265 / an AV1 encoder (libsvtav1, libaom-av1
or librav1e, the first this ffmpeg has), turns it into enhanced-RTMP tags
(eflv.py: FourCC 'hvc1' / 'av01', SequenceStart with the hvcC / av1C record,
CodedFrames / CodedFramesX) and publishes them to a cluster origin in real
time, looping the clip with increasing timestamps.

On the edge, for /live/<name>.m3u8 and the LL-HLS /live/<name>.ll.m3u8: an
fMP4 playlist (EXT-X-MAP, .m4s URIs), the init segment carries the codec's
sample entry and AAC and every edge worker serves it byte-identical, ffprobe
sees the codec at 320x240 plus AAC, and ffmpeg decodes 30 frames from the
playlist with no error. After the clip has looped: no discontinuity, and the
whole window (init + every listed segment) decodes across a loop point with
one frame every 40 ms. A test is skipped only when this ffmpeg has no
encoder for its codec. Prints waits, frame counts and timings on stderr."""
import http.client
import json
import os
import re
import sys
import threading
import time

import cluster
import eflv
import harness
from rtmpclient import DATA_AMF0, EcmaArray, amf0_encode_all

CLIP_SECONDS = 4         # looped: the HLS window (3+ segments of 2 s) spans a loop point
PUBLISH_SECONDS = 40     # upper bound; the test stops the publisher when done
AV1_ENCODERS = (
    ('libsvtav1', ['-preset', '12']),
    ('libaom-av1', ['-usage', 'realtime', '-cpu-used', '8', '-row-mt', '1']),
    ('librav1e', ['-speed', '10']),
)


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + '] ')
    sys.stderr.flush()


_encoders = None


def have_encoder(name):
    global _encoders
    if _encoders is None:
        r = harness.run(['ffmpeg', '-hide_banner', '-encoders'], 20)
        _encoders = set(re.findall(rb'^\s*[VAS][A-Z.]{5}\s+(\S+)', r.stdout, re.M))
    return name.encode() in _encoders


def encode_clip(name, vcodec, vargs):
    """Encode the test clip to MP4; return it as an eflv.Clip."""
    path = harness.tmp_path('%s.mp4' % name)
    r = harness.run(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
                     '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=%d' % CLIP_SECONDS,
                     '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=%d'
                     % CLIP_SECONDS,
                     '-c:v', vcodec] + vargs + ['-g', '25', '-pix_fmt', 'yuv420p',
                     '-c:a', 'aac', '-ac', '2', '-b:a', '64k', '-t', str(CLIP_SECONDS), path],
                    40, env=dict(os.environ, SVT_LOG='1'))
    if r.returncode != 0:
        raise AssertionError('encoding with %s failed rc=%s: %s' % (vcodec, r.returncode,
                                                                    r.stderr[-800:]))
    return eflv.Clip(path)


class EflvPublisher(threading.Thread):
    """Publishes a Clip over enhanced RTMP, paced in wall time, looping it."""

    def __init__(self, node, stream, clip, seconds=PUBLISH_SECONDS):
        super().__init__(daemon=True)
        self.node, self.stream, self.clip, self.seconds = node, stream, clip, seconds
        self.halt = threading.Event()
        self.started_ev = threading.Event()
        self.error = None
        self.sent = 0
        self.last_ts = 0

    def run(self):
        c = None
        try:
            c = self.node.client(timeout=10)
            c.connect(extra={'fourCcList': ['hvc1', 'av01']})
            c.set_chunk_size(4096)
            c.publish(self.stream)
            self.started_ev.set()
            c.send_message(5, DATA_AMF0, amf0_encode_all(
                '@setDataFrame', 'onMetaData', EcmaArray(self.clip.metadata())), c.stream_id, 0)
            for typ, body in self.clip.headers:
                c.send_media(typ, body, 0)
            t0 = time.monotonic()
            loop = 0
            while not self.halt.is_set() and time.monotonic() - t0 < self.seconds:
                for ts, typ, body in self.clip.media:
                    ts += loop * self.clip.period
                    delay = t0 + ts / 1000.0 - time.monotonic()
                    if delay > 0:
                        c.read_for(delay)    # answers pings, notices a close
                    if c.closed or self.halt.is_set():
                        break
                    c.send_media(typ, body, ts)
                    self.sent += 1
                    self.last_ts = ts
                loop += 1
            typ, body = self.clip.sequence_end()
            c.send_media(typ, body, self.last_ts)
        except Exception as e:   # reported by the test
            self.error = e
        finally:
            self.started_ev.set()
            if c:
                c.close()

    def stop(self):
        self.halt.set()
        self.join(10)


def http_get(port, path, timeout=10.0):
    """One request on a fresh connection (SO_REUSEPORT picks any edge worker)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class KeepAlive:
    """Requests on one kept-alive connection, so on one edge worker, as a
    player does: each worker packages on its own and lists only segments it
    saw begin, so a playlist and its segments must come from one worker."""

    def __init__(self, port, timeout=10.0):
        self.c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)

    def get(self, path):
        self.c.request('GET', path)
        r = self.c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def close(self):
        self.c.close()


def media_uris(text):
    return [ln for ln in text.splitlines() if ln and not ln.startswith('#')]


class HlsHevcAv1(cluster.ClusterTestCase):

    def check_codec(self, stream, clip, codec_name):
        r = self.redis()
        o = self.origin('oA', r, sets={'http_listen': '127.0.0.1:%d' % harness.free_port()})
        port = harness.free_port()
        e1 = self.edge('e1', r, sets={'http_listen': '127.0.0.1:%d' % port,
                                      'hls_part_duration': '500ms'})
        pub = EflvPublisher(o, stream, clip)
        pub.start()
        self.addCleanup(pub.stop)
        self.assertTrue(pub.started_ev.wait(15), 'publish did not start')
        self.assertIsNone(pub.error, 'publishing failed: %r' % pub.error)
        t0 = time.monotonic()
        for pl in ('/live/%s.m3u8' % stream, '/live/%s.ll.m3u8' % stream):
            ka = KeepAlive(port)
            self.addCleanup(ka.close)
            text = self.wait_fmp4_playlist(ka, pl, pub, 2, 25.0)
            say('%s: %d segments after %.1f s', pl, len(media_uris(text)), time.monotonic() - t0)
            self.assertIn('#EXT-X-MAP:URI=', text)
            self.assertIn('#EXT-X-VERSION:', text)
            if pl.endswith('.ll.m3u8'):
                self.assertIn('#EXT-X-PART:', text)
            init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)
            st, hdr, body = ka.get('/live/' + init)
            self.assertEqual(st, 200, init)
            self.assertEqual(hdr.get('content-type'), 'video/mp4', init)
            self.assertEqual(body[4:8], b'ftyp', init)
            sample_entry = b'hvc1' if codec_name == 'hevc' else b'av01'
            self.assertIn(sample_entry, body, 'init segment %s has no %r sample entry'
                          % (init, sample_entry))
            self.assertIn(b'hvcC' if codec_name == 'hevc' else b'av1C', body)
            self.assertIn(b'mp4a', body)
            # any worker serves that init segment, byte-identical (one that has
            # not begun a segment yet waits for it instead of answering 404)
            for _ in range(4):
                st, _, other = http_get(port, '/live/' + init)
                self.assertEqual((st, other == body), (200, True), 'init %s on a fresh '
                                 'connection: status %d, %d bytes' % (init, st, len(other)))
            seg = media_uris(text)[-1]
            st, hdr, body = ka.get('/live/' + seg)
            self.assertEqual(st, 200, seg)
            self.assertEqual(body[4:8], b'moof', seg)
            url = 'http://127.0.0.1:%d%s' % (port, pl)
            streams = cluster.probe_streams(url)
            v, a = cluster.video_audio(streams)
            self.assertEqual((v.get('codec_name'), v.get('width'), v.get('height')),
                             (codec_name, 320, 240), streams)
            self.assertEqual(a.get('codec_name'), 'aac', streams)
            res = harness.DecodeProc(url, 30, 25).result()
            self.assertEqual(res.rc, 0, '%s: %r' % (pl, res))
            self.assertGreaterEqual(res.frames, 30, '%s: %r' % (pl, res))
            self.assertEqual(res.stderr.strip(), '', '%s: decoder complained: %r' % (pl, res))
            say('%s decoded %d frames in %.1f s', pl, res.frames, res.elapsed)
        self.check_after_loop(port, stream, clip, pub, codec_name)
        self.assertTrue(pub.is_alive(), 'publisher ended early: %r' % pub.error)
        self.assertIsNone(pub.error)
        self.assertTrue(o.alive() and e1.alive(), 'a node died')
        bad = e1.lines(r'hls \S+: (segment \d+|no init segment)')
        self.assertFalse(bad, 'edge packaging errors: %r' % [m.string for m in bad])
        say('%s: %d tags sent, last ts %d ms, clip %d frames / %d keyframes, max cts %d ms',
            codec_name, pub.sent, pub.last_ts, clip.frames, clip.keyframes, clip.cts_max)

    def check_after_loop(self, port, stream, clip, pub, codec_name):
        """Once the clip has looped (timestamps continue past its end): the
        playlist goes on without a discontinuity, and every listed segment,
        joined to the init segment, decodes as one stream across a loop
        point: keyframe first, 320x240, one frame every 40 ms (no gap, no
        repeat) from the first to the last."""
        deadline = time.monotonic() + 2 * clip.period / 1000.0 + 15
        while pub.last_ts < 2 * clip.period:
            self.assertIsNone(pub.error, 'publisher failed: %r' % pub.error)
            self.assertLess(time.monotonic(), deadline, 'publisher stalled at ts %d' % pub.last_ts)
            time.sleep(0.2)
        ka = KeepAlive(port)
        self.addCleanup(ka.close)
        # this worker may have begun packaging later than the one asked first
        text = self.wait_fmp4_playlist(ka, '/live/%s.m3u8' % stream, pub, 3, 15.0)
        self.assertNotIn('#EXT-X-DISCONTINUITY\n', text, 'looping with increasing timestamps '
                         'is one continuous stream:\n' + text)
        seq = int(re.search(r'#EXT-X-MEDIA-SEQUENCE:(\d+)', text).group(1))
        durs = [float(x) for x in re.findall(r'#EXTINF:([\d.]+)', text)]
        for d in durs:
            self.assertTrue(0.9 <= d <= 2.1, 'segment of %.3f s (2 s target, 1 s GOPs):\n%s'
                            % (d, text))
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)
        data = b''
        for uri in [init] + media_uris(text):
            st, _, body = ka.get('/live/' + uri)
            self.assertEqual(st, 200, uri)
            data += body
        path = harness.tmp_path('%s-window.mp4' % stream)
        with open(path, 'wb') as f:
            f.write(data)
        r = harness.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_frames',
                         '-show_entries', 'frame=key_frame,pts_time,width,height', '-of', 'json',
                         path], 30)
        self.assertEqual(r.returncode, 0, r.stderr[-600:])
        frames = json.loads(r.stdout).get('frames', [])
        self.assertTrue(frames and frames[0].get('key_frame') == 1,
                        'the first listed segment does not start with a keyframe: %r' % frames[:3])
        self.assertEqual({(f.get('width'), f.get('height')) for f in frames}, {(320, 240)})
        want = round(sum(durs) * 25)
        self.assertTrue(abs(len(frames) - want) <= 1, '%d segments, %.3f s: %d frames'
                        % (len(durs), sum(durs), len(frames)))
        pts = [round(float(f['pts_time']) * 1000) for f in frames]
        steps = sorted({b - a for a, b in zip(pts, pts[1:])})
        self.assertEqual(steps, [40], 'frame spacing (ms) other than 40: %r' % steps)
        # the fragment times are the RTMP timestamps (plus the composition time)
        loops = [k * clip.period for k in range(1, 100) if pts[0] < k * clip.period < pts[-1]]
        self.assertTrue(loops, 'the window %d..%d ms holds no loop point (every %d ms)'
                        % (pts[0], pts[-1], clip.period))
        r = harness.run(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-xerror',
                         '-i', path, '-f', 'null', '-'], 30)
        self.assertEqual((r.returncode, r.stderr), (0, b''), 'decoding the window (video+audio)')
        say('%s across loop points %s ms: msn %d..%d, %d frames, pts %.2f..%.2f s', codec_name,
            loops, seq, seq + len(durs) - 1, len(frames), pts[0] / 1000.0, pts[-1] / 1000.0)

    def wait_fmp4_playlist(self, ka, path, pub, segments, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if pub.error is not None:
                self.fail('publisher failed: %r' % pub.error)
            try:
                st, hdr, body = ka.get(path)
            except (OSError, http.client.HTTPException) as e:
                last = e
                ka.close()
            else:
                last = (st, body[:300])
                if st == 200:
                    self.assertEqual(hdr.get('content-type'), 'application/vnd.apple.mpegurl')
                    text = body.decode()
                    uris = media_uris(text)
                    bad = [u for u in uris if not u.endswith('.m4s')]
                    self.assertFalse(bad, 'not an fMP4 playlist (segments %r):\n%s' % (bad, text))
                    if len(uris) >= segments:
                        return text
            time.sleep(0.3)
        self.fail('%s never listed %d segments: %r' % (path, segments, last))

    def test_01_hevc(self):
        if not have_encoder('libx265'):
            self.skipTest('this ffmpeg has no HEVC encoder (libx265)')
        clip = encode_clip('hevc', 'libx265', [
            '-preset', 'ultrafast',
            '-x265-params', 'log-level=error:keyint=25:min-keyint=25:scenecut=0:open-gop=0'])
        self.assertEqual(clip.fourcc, b'hvc1')
        self.assertGreater(clip.cts_max, 0, 'the HEVC clip should have B-frames (cts > 0)')
        self.check_codec('hevc', clip, 'hevc')

    def test_02_av1(self):
        enc = [(n, a) for n, a in AV1_ENCODERS if have_encoder(n)]
        if not enc:
            self.skipTest('this ffmpeg has no AV1 encoder (libsvtav1, libaom-av1, librav1e)')
        clip = encode_clip('av1', enc[0][0], enc[0][1])
        say('AV1 encoder %s', enc[0][0])
        self.assertEqual(clip.fourcc, b'av01')
        self.check_codec('av1', clip, 'av1')


if __name__ == '__main__':
    cluster.main(120)
