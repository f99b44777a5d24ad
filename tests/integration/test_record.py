#!/usr/bin/env python3
"""Recording on the origin, and playing recordings back, with real clients.

Three origins run at once while ffmpeg publishes the test pattern (25 fps,
keyframe every second, AAC) to each:
- A records live/cam and is killed with SIGKILL after ~6 s of recording:
  the file it leaves plays up to the kill (ffprobe counts about 25 frames a
  second of recording; ffmpeg decodes it without errors);
- B rotates files every 2 s of media: several files, each playable on its
  own from a keyframe;
- C has a record_path it cannot write: the error is logged once with the
  path and the reason and counted in /v1/recordings, and the live stream
  still plays.
Every file closed cleanly (B's rotations and its publisher's end) also
gets <name>.mp4 (record_mp4, on by default): a fragmented MP4 with h264 and
aac, as long as the FLV, that ffmpeg decodes without errors; A's killed
file gets none (and no half-written .mp4.part under the final name).
Then A is restarted on the same record_path and serves the killed file:
over RTMP (rtmp://host/vod/live/<file>) with play's start offset, with a
seek command, to the end (NetStream.Play.Stop), through ffprobe's own seek
and ffmpeg's decoder; and as HLS VOD (/vod/live/<file>.m3u8) to ffprobe,
with 404 for a missing file and 400 for names that try to leave
record_path.
"""
import glob
import http.client
import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import rtmpclient  # noqa: E402
from rtmpclient import COMMAND_AMF0, VIDEO  # noqa: E402

RECORD_SECONDS = 6.0


def http_get(port, path, timeout=10.0):
    """GET path as is (no normalisation of '..'); (status, headers, body)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def recordings(port):
    status, _, body = http_get(port, '/v1/recordings')
    if status != 200:
        raise AssertionError('/v1/recordings: %d %r' % (status, body[:200]))
    return json.loads(body)


def unwritable_dir():
    """A record_path the origin cannot create anything under: a read-only
    directory, or for root (who ignores modes) a read-only file system."""
    if os.geteuid() == 0:
        if os.path.isdir('/sys'):
            return '/sys/sc-recordings'
        raise unittest.SkipTest('running as root without a read-only /sys')
    d = harness.tmp_path('readonly')
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o555)
    return os.path.join(d, 'rec')


def publish(server, name, seconds=None):
    args = ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error'] + harness.FFMPEG_PUBLISH
    if seconds:
        args += ['-t', str(seconds)]
    return harness.spawn(args + [server.url(name)], harness.tmp_path('pub-%s-%d.log' % (name, time.monotonic_ns())))


def wait_file(pattern, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = glob.glob(pattern)
        if found:
            return found[0], time.monotonic()
        time.sleep(0.05)
    raise AssertionError('no recording matching %s within %.0f s' % (pattern, timeout))


def media_duration(path):
    """Duration in seconds of a file's packets (ffprobe), first to last plus
    the last video frame (25 fps)."""
    r = harness.run(['ffprobe', '-hide_banner', '-v', 'error', '-select_streams', 'v', '-show_entries',
                     'packet=pts_time', '-of', 'csv=p=0', path], 30)
    if r.returncode != 0:
        raise AssertionError('ffprobe %s: %s' % (path, r.stderr[-500:]))
    pts = [float(x) for x in r.stdout.decode().split() if x.strip() and x.strip() != 'N/A']
    return max(pts) - min(pts) + 0.04


def decode_errors(path_or_url, timeout=30.0, extra=()):
    r = harness.run(['ffmpeg', '-hide_banner', '-nostdin', '-v', 'error'] + list(extra)
                    + ['-i', path_or_url, '-f', 'null', '-'], timeout)
    return r.returncode, r.stderr.decode('utf-8', 'replace').strip()


class Record(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_tools('ffmpeg', 'ffprobe')
        if harness.SERVER_KIND != 'origin':
            raise unittest.SkipTest('recording is a feature of our origin')
        cls.root = harness.tmp_path('recordings')
        cls.rot_root = harness.tmp_path('recordings-rot')
        cls.http = {k: harness.free_port() for k in 'ABC'}
        common = {'record_apps': 'live'}
        cls.a = harness.Server('rec-a', dict(common, record_path=cls.root,
                                             http_listen='127.0.0.1:%d' % cls.http['A'])).start()
        cls.b = harness.Server('rec-b', dict(common, record_path=cls.rot_root, record_max_duration='2s',
                                             http_listen='127.0.0.1:%d' % cls.http['B'])).start()
        cls.ro_path = unwritable_dir()
        cls.c = harness.Server('rec-c', dict(common, record_path=cls.ro_path,
                                             http_listen='127.0.0.1:%d' % cls.http['C'])).start()
        cls.pubs = [publish(cls.a, 'cam'), publish(cls.b, 'rot', seconds=5.5), publish(cls.c, 'ro')]
        try:
            cls.killed_file, seen = wait_file(os.path.join(cls.root, 'live', 'cam-*.flv'))
            time.sleep(1.0)
            cls.live_listing = recordings(cls.http['A'])
            time.sleep(max(0.0, seen + RECORD_SECONDS - time.monotonic()))
            harness.kill(cls.a.proc, signal.SIGKILL)
            cls.recorded = time.monotonic() - seen
            harness.kill(cls.pubs[0])
            # C: the live stream is served while its recording failed.
            harness.wait_playable(cls.c, 'ro', 15, cls.pubs[2])
            cls.ro_decode = harness.decode(cls.c.url('ro'), 25, 20)
            cls.ro_listing = recordings(cls.http['C'])
            cls.pubs[1].wait(timeout=20)
            cls.rot_listing = recordings(cls.http['B'])
        except BaseException:
            for s in (cls.a, cls.b, cls.c):
                sys.stderr.write('--- %s log ---\n%s\n' % (s.name, harness.tail(s.log_path, 20)))
            cls.tearDownClass()
            raise
        # A again, on the same record_path: it serves the killed file.
        cls.a2 = harness.Server('rec-a2', {'record_path': cls.root,
                                           'http_listen': '127.0.0.1:%d' % cls.http['A']}).start()
        cls.name = os.path.basename(cls.killed_file)[:-len('.flv')]

    @classmethod
    def tearDownClass(cls):
        for p in getattr(cls, 'pubs', []):
            harness.kill(p)
        for s in ('a', 'b', 'c', 'a2'):
            if hasattr(cls, s):
                getattr(cls, s).stop()

    def vod_url(self, name=None):
        return 'rtmp://127.0.0.1:%d/vod/live/%s' % (self.a2.port, name or self.name)

    def vod_client(self):
        c = rtmpclient.RtmpClient('127.0.0.1', self.a2.port, timeout=10)
        self.addCleanup(c.close)
        c.connect(app='vod')
        c.create_stream()
        return c

    # ---- recording ---------------------------------------------------------

    def test_listing_while_recording(self):
        recs = self.live_listing['recordings']
        self.assertEqual(len(recs), 1, self.live_listing)
        self.assertEqual(recs[0]['stream'], 'live/cam')
        self.assertEqual(recs[0]['file'], self.killed_file)
        self.assertGreater(recs[0]['bytes'], 10000)
        self.assertFalse(recs[0]['failed'])
        self.assertEqual(self.live_listing['counters']['errors'], 0)

    def test_killed_recording_plays_to_the_kill(self):
        streams = {s['codec_type']: s for s in harness.probe_file(self.killed_file)}
        self.assertEqual(streams['video']['codec_name'], 'h264')
        self.assertEqual(streams['audio']['codec_name'], 'aac')
        frames = int(streams['video']['nb_read_frames'])
        want = self.recorded * 25
        print('recorded %.2f s before SIGKILL: %d video frames (%.0f expected)' % (self.recorded, frames, want))
        self.assertGreaterEqual(frames, want - 30, 'frames lost before the kill')
        self.assertLessEqual(frames, want + 20)  # ffmpeg -re sends its first frames in a burst
        rc, err = decode_errors(self.killed_file)
        self.assertEqual(rc, 0, err)
        self.assertLessEqual(len(err.splitlines()), 1, 'decode errors beyond the truncated tail: %s' % err)
        first = harness.probe_first_video_frame(self.killed_file)
        self.assertEqual(int(first.get('key_frame', 0)), 1, first)

    def test_rotation_by_duration(self):
        files = sorted(glob.glob(os.path.join(self.rot_root, 'live', 'rot-*.flv')))
        self.assertGreaterEqual(len(files), 2, files)
        c = self.rot_listing['counters']
        self.assertEqual(c['files_opened'], len(files), self.rot_listing)
        self.assertEqual(c['files_closed'], len(files))
        self.assertEqual(c['errors'], 0)
        for f in files:
            streams = {s['codec_type']: s for s in harness.probe_file(f)}
            frames = int(streams['video']['nb_read_frames'])
            self.assertGreaterEqual(frames, 10, f)
            self.assertLessEqual(frames, 2 * 25 + 30, '%s: longer than max_duration + one GOP' % f)
            first = harness.probe_first_video_frame(f)
            self.assertEqual(int(first.get('key_frame', 0)), 1, '%s starts without a keyframe' % f)
            self.assertLess(float(first.get('pts_time', first.get('pkt_pts_time', 1))), 0.1, f)
            rc, err = decode_errors(f)
            self.assertEqual((rc, err), (0, ''), f)

    def test_unwritable_path_is_an_error_not_an_outage(self):
        self.assertEqual(self.ro_decode.rc, 0, self.ro_decode)
        self.assertGreaterEqual(self.ro_decode.frames, 25, self.ro_decode)
        self.assertGreaterEqual(self.ro_listing['counters']['errors'], 1, self.ro_listing)
        recs = self.ro_listing['recordings']
        self.assertTrue(recs and recs[0]['failed'], self.ro_listing)
        log = self.c.log()
        errors = re.findall(r'level=error record: (?:mkdir|open) failed path=(\S+): '
                            r'(Permission denied|Operation not permitted|Read-only file system)', log)
        self.assertEqual(len(errors), 1, 'want one error line with path and reason:\n%s' % log[-2000:])
        self.assertTrue(errors[0][0].startswith(self.ro_path), errors)
        self.assertTrue(self.c.alive())

    def test_mp4_of_closed_files(self):
        files = sorted(glob.glob(os.path.join(self.rot_root, 'live', 'rot-*.flv')))
        self.assertGreaterEqual(len(files), 2, files)
        deadline = time.monotonic() + 15
        for f in files:
            mp4 = f[:-len('.flv')] + '.mp4'
            while not os.path.exists(mp4) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(mp4), '%s: no MP4 after the file closed' % f)
            self.assertFalse(os.path.exists(mp4 + '.part'), mp4)
            streams = {s['codec_type']: s for s in harness.probe_file(mp4)}
            self.assertEqual(streams['video']['codec_name'], 'h264', mp4)
            self.assertEqual(streams['audio']['codec_name'], 'aac', mp4)
            flv_frames = int({s['codec_type']: s for s in harness.probe_file(f)}['video']['nb_read_frames'])
            self.assertEqual(int(streams['video']['nb_read_frames']), flv_frames, mp4)
            want, got = media_duration(f), media_duration(mp4)
            print('%s: FLV %.2f s, MP4 %.2f s, %d frames' % (os.path.basename(mp4), want, got, flv_frames))
            self.assertAlmostEqual(got, want, delta=want * 0.1, msg=mp4)
            r = harness.run(['ffprobe', '-hide_banner', '-v', 'error', '-show_entries', 'format=duration',
                             '-of', 'csv=p=0', mp4], 20)
            self.assertAlmostEqual(float(r.stdout.decode().strip()), want, delta=want * 0.1 + 0.1, msg=mp4)
            rc, err = decode_errors(mp4)
            self.assertEqual((rc, err), (0, ''), mp4)
        c = recordings(self.http['B'])['counters']
        self.assertEqual(c['mp4_files'], len(files), c)
        self.assertEqual(c['mp4_errors'], 0, c)
        # The killed recording was never closed: no MP4, not even a part.
        killed = self.killed_file[:-len('.flv')]
        self.assertFalse(os.path.exists(killed + '.mp4'))
        self.assertFalse(os.path.exists(killed + '.mp4.part'))

    # ---- playback over RTMP ------------------------------------------------

    def test_rtmp_play_from_start_offset(self):
        c = self.vod_client()
        c.play('live/' + self.name, start=3000)
        key = c.read_until(lambda m: m.is_video_keyframe(), timeout=10, what='keyframe')
        self.assertEqual(key.timestamp, 3000, 'start offset 3000 lands on the keyframe at 3 s')
        before = c.received[:c.received.index(key)]
        self.assertTrue(any(m.is_video_seq_header() for m in before), c.summary(20))
        self.assertTrue(any(m.is_audio_seq_header() for m in before), c.summary(20))
        meta = [m for m in before if m.type == rtmpclient.DATA_AMF0 and 'onMetaData' in (m.amf or [])[:1]]
        self.assertTrue(meta and meta[0].timestamp == 0, c.summary(20))
        # Paced: about a second of media in a second, not the whole file.
        t0 = time.monotonic()
        last = key.timestamp
        for m in c.read_for(1.0):
            if m.type == VIDEO:
                last = m.timestamp
        ahead = (last - 3000) - (time.monotonic() - t0) * 1000
        self.assertLess(ahead, 1500, 'not paced: %d ms of media in %.1f s' % (last - 3000, time.monotonic() - t0))
        self.assertGreater(last, 3400, 'stalled')

    def test_rtmp_seek_and_end(self):
        c = self.vod_client()
        c.play('live/' + self.name, start=-2000)
        c.read_until(lambda m: m.is_video_keyframe() and m.timestamp == 0, timeout=10, what='keyframe at 0')
        c.command('seek', None, 4500.0, tx=0, stream_id=c.stream_id, csid=8)
        c.wait_status('NetStream.Seek.Notify', timeout=10)
        key = c.read_until(lambda m: m.type == VIDEO and not m.is_video_seq_header(), timeout=10,
                           what='first video after the seek')
        self.assertTrue(key.is_video_keyframe(), key)
        self.assertEqual(key.timestamp, 4000, 'seek 4500 goes to the keyframe at 4 s')
        # The file ends ~6 s in: Play.Stop comes after the last frames.
        info = c.wait_status('NetStream.Play.Stop', timeout=10)
        self.assertIn(self.name, info.get('description', ''))
        media = [m for m in c.received if m.type == VIDEO and m.timestamp >= 4000]
        self.assertGreater(max(m.timestamp for m in media), 5000)

    def test_rtmp_missing_and_bad_names(self):
        c = self.vod_client()
        c.play('live/no-such-file', wait=False)
        with self.assertRaises(rtmpclient.ProtocolError):
            c.wait_status('NetStream.Play.Start', timeout=5)
        c2 = self.vod_client()
        c2.play('../../etc/passwd', wait=False)
        with self.assertRaises(rtmpclient.ProtocolError):
            c2.wait_status('NetStream.Play.Start', timeout=5)
        self.assertTrue(self.a2.alive())

    def test_ffmpeg_plays_and_seeks(self):
        d = harness.decode(self.vod_url(), frames=40, timeout=20)
        self.assertEqual(d.rc, 0, d)
        self.assertGreaterEqual(d.frames, 40, d)
        # ffprobe seeks with the RTMP seek command (read_intervals).
        r = harness.run(['ffprobe', '-hide_banner', '-v', 'error', '-select_streams', 'v', '-show_frames',
                         '-read_intervals', '2%+#1', '-of', 'json', self.vod_url()], 20)
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        frames = json.loads(r.stdout)['frames']
        self.assertTrue(frames, r.stderr[-500:])
        pts = float(frames[0].get('pts_time', frames[0].get('pkt_pts_time', -1)))
        self.assertAlmostEqual(pts, 2.0, delta=0.05, msg=frames[0])
        self.assertEqual(int(frames[0].get('key_frame', 0)), 1)

    # ---- HLS VOD -----------------------------------------------------------

    def test_hls_vod(self):
        port = self.http['A']
        status, headers, body = http_get(port, '/vod/live/%s.m3u8' % self.name)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers['content-type'], 'application/vnd.apple.mpegurl')
        self.assertIn('max-age', headers.get('cache-control', ''), 'a finished recording is cacheable')
        text = body.decode()
        self.assertIn('#EXT-X-PLAYLIST-TYPE:VOD', text)
        self.assertTrue(text.rstrip().endswith('#EXT-X-ENDLIST'), text)
        segs = re.findall(r'^(\S+\.ts)$', text, re.M)
        durations = [float(x) for x in re.findall(r'#EXTINF:([\d.]+),', text)]
        self.assertGreaterEqual(len(segs), 2, text)
        self.assertAlmostEqual(sum(durations), self.recorded, delta=1.5)
        status, headers, seg = http_get(port, '/vod/live/' + segs[0])
        self.assertEqual(status, 200)
        self.assertEqual(headers['content-type'], 'video/mp2t')
        self.assertEqual(len(seg) % 188, 0)
        url = 'http://127.0.0.1:%d/vod/live/%s.m3u8' % (port, self.name)
        streams = {s['codec_type']: s for s in harness.probe_streams(url)}
        self.assertEqual(streams['video']['codec_name'], 'h264')
        self.assertEqual(streams['audio']['codec_name'], 'aac')
        r = harness.run(['ffprobe', '-hide_banner', '-v', 'error', '-count_frames', '-select_streams', 'v',
                         '-show_entries', 'stream=nb_read_frames', '-of', 'json', url], 30)
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        frames = int(json.loads(r.stdout)['streams'][0]['nb_read_frames'])
        self.assertGreaterEqual(frames, self.recorded * 25 - 30, 'HLS lost frames')
        rc, err = decode_errors(url)
        self.assertEqual((rc, err), (0, ''))

    def test_hls_vod_segment_over_4_mib(self):
        """A high-bitrate recording: its segments are far bigger than the
        HTTP output buffer (4 MiB) and are served whole, without a copy."""
        name = 'big-20260101-000000'
        path = os.path.join(self.root, 'live', name + '.flv')
        r = harness.run(['ffmpeg', '-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i',
                         'testsrc2=size=1280x720:rate=25', '-t', '5', '-c:v', 'libx264', '-preset', 'ultrafast',
                         '-qp', '0', '-g', '100', '-pix_fmt', 'yuv420p', '-f', 'flv', path], 60)
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        port = self.http['A']
        status, _, body = http_get(port, '/vod/live/%s.m3u8' % name)
        self.assertEqual(status, 200, body)
        segs = re.findall(r'^(\S+\.ts)$', body.decode(), re.M)
        self.assertTrue(segs, body)
        status, headers, seg = http_get(port, '/vod/live/' + segs[0])
        self.assertEqual(status, 200, seg[:200])
        self.assertGreater(len(seg), 4 << 20, 'the test file is not high-bitrate enough to test this')
        self.assertEqual(int(headers['content-length']), len(seg))
        self.assertEqual(len(seg) % 188, 0)
        sys.stderr.write('  [HLS VOD segment of %.1f MiB served] ' % (len(seg) / (1 << 20)))
        rc, err = decode_errors('http://127.0.0.1:%d/vod/live/%s.m3u8' % (port, name))
        self.assertEqual((rc, err), (0, ''))

    def test_hls_refusals(self):
        port = self.http['A']
        self.assertEqual(http_get(port, '/vod/live/no-such-file.m3u8')[0], 404)
        self.assertEqual(http_get(port, '/vod/live/%s/9999.ts' % self.name)[0], 404)
        for bad in ('/vod/../../etc/passwd.m3u8', '/vod/live/../../x.m3u8', '/vod/live/..%2f..%2fetc.m3u8',
                    '/vod//etc/passwd.m3u8', '/vod/live/.hidden.m3u8', '/vod/live/%s/-1.ts' % self.name,
                    '/vod/live/x/../../y/0.ts'):
            status, _, body = http_get(port, bad)
            self.assertIn(status, (400, 404), '%s -> %d' % (bad, status))
            self.assertNotIn(b'root:', body)
        self.assertEqual(recordings(port)['counters']['hls_errors'], 0, 'refusals are not errors')


if __name__ == '__main__':
    harness.main()
