#!/usr/bin/env python3
"""Client quirks from CLIENTS.md section 2, driven by the raw client, plus
replays of the recorded publish and play sessions in tests/data."""
import os
import struct
import threading
import time

import harness
import rtmpclient
from rtmpclient import AUDIO, VIDEO, DATA_AMF0, COMMAND_AMF0, ACK, USER_CONTROL, EcmaArray

OBS_CAPTURE = os.path.join(harness.DATA_DIR, 'publish-obs.c2s.bin')
FFMPEG_CAPTURE = os.path.join(harness.DATA_DIR, 'publish-ffmpeg.c2s.bin')
GST_CAPTURE = os.path.join(harness.DATA_DIR, 'publish-gst-rtmp2sink.c2s.bin')


def is_metadata(m):
    return m.type == DATA_AMF0 and m.amf and 'onMetaData' in m.amf[:2]


def metadata_obj(m):
    for v in m.amf:
        if isinstance(v, dict):
            return v
    return {}


class Quirks(harness.ServerTestCase):

    # ---------- helpers
    def player(self, name, wait_start=True):
        c = self.raw(timeout=10)
        c.connect()
        c.create_stream()
        c.play(name, wait=wait_start)
        return c

    def assert_media_flows(self, c, seconds=1.5, min_video=10):
        msgs = c.read_for(seconds)
        v = sum(1 for m in msgs if m.type == VIDEO)
        a = sum(1 for m in msgs if m.type == AUDIO)
        self.assertGreaterEqual(v, min_video, 'video stalled (%d video, %d audio): %s'
                                % (v, a, c.summary()))
        return msgs

    def assert_plays_live(self, c):
        """After play: Play.Start, then a coded keyframe, then media keeps flowing."""
        c.read_until(lambda m: m.is_video_keyframe(), timeout=10, what='video keyframe')
        self.assert_media_flows(c)

    # ---------- publisher quirks
    def test_obs_chunk_size_before_connect(self):
        """OBS: Set Chunk Size 4096 and connect in one write, connect > 128 bytes."""
        early = self.player('obsq', wait_start=False)
        c = self.raw(timeout=10)
        c.handshake()
        prefix = c.set_chunk_size_bytes(4096)
        extra = {'type': 'nonprivate', 'supportsGoAway': True,
                 'swfUrl': 'rtmp://127.0.0.1:%d/live' % self.server.port}
        c.connect(extra=extra, prefix=prefix)
        res = c.received[-1]
        self.assertEqual(res.amf[3].get('code'), 'NetConnection.Connect.Success', res)
        c.send_raw(c.command_bytes('releaseStream', None, 'obsq'))
        c.send_raw(c.command_bytes('FCPublish', None, 'obsq'))
        c.create_stream()
        c.publish('obsq')
        media = rtmpclient.capture_media(FFMPEG_CAPTURE)[:120]
        c.send_media_messages(media, pace=False)
        sent_video = [m.payload for m in media if m.type == VIDEO]
        self.assertTrue(any(len(p) > 4096 for p in sent_video), 'capture has no > 4096 frame')
        got = []
        deadline = time.monotonic() + 10
        while len(got) < len(sent_video) and time.monotonic() < deadline:
            m = early.read_message(max(0.01, deadline - time.monotonic()))
            if m is not None and m.type == VIDEO:
                got.append(m.payload)
        self.assertGreaterEqual(len(got), len(sent_video) // 2,
                                'player got %d of %d video messages' % (len(got), len(sent_video)))
        # what arrived is a contiguous, byte-identical run of what was sent
        first = sent_video.index(got[0])
        self.assertEqual(got, sent_video[first:first + len(got)],
                         'video payloads differ (chunk size not honoured?)')

    def test_repeated_setdataframe(self):
        """GStreamer: @setDataFrame(onMetaData) repeated; late player gets the latest."""
        early = self.player('meta', wait_start=False)
        c = self.raw(timeout=10)
        c.connect(extra={'type': 'nonprivate'})
        c.create_stream()
        c.publish('meta')
        media = [m for m in rtmpclient.capture_media(GST_CAPTURE) if m.type != DATA_AMF0]
        first_meta = next(m for m in rtmpclient.capture_media(GST_CAPTURE) if m.type == DATA_AMF0)
        base = metadata_obj(first_meta)

        def meta(mark):
            o = EcmaArray(base)
            o['scmark'] = float(mark)
            o['videodatarate'] = 500.0 + mark      # nginx-rtmp rebuilds metadata, keeps this
            return rtmpclient.amf0_encode_all('@setDataFrame', 'onMetaData', o)

        mark = 0
        half = len(media) // 2
        for i, m in enumerate(media[:half]):
            if i % 20 == 0:
                mark += 1
                c.send_message(5, DATA_AMF0, meta(mark), c.stream_id, m.timestamp)
            c.send_message(4 if m.type == AUDIO else 6, m.type, m.payload, c.stream_id, m.timestamp)
        self.assertGreater(mark, 3)
        late = self.player('meta')
        # (nginx-rtmp only sends metadata along with the first media after the join)
        for m in media[half:half + 10]:
            c.send_message(4 if m.type == AUDIO else 6, m.type, m.payload, c.stream_id, m.timestamp)
        md = late.read_until(is_metadata, timeout=5, what='onMetaData')
        self.assertEqual(metadata_obj(md).get('videodatarate'), 500.0 + mark,
                         'late player got stale metadata: %r' % metadata_obj(md))
        if self.server.is_origin:
            self.assertEqual(metadata_obj(md).get('scmark'), float(mark),
                             'late player metadata lost publisher fields: %r' % metadata_obj(md))
        self.assertEqual(md.amf[0], 'onMetaData', '@setDataFrame not stripped: %r' % md.amf[:2])
        # more media plus metadata repeats; both players keep receiving video
        sent = 0
        for i, m in enumerate(media[half + 10:]):
            if i % 20 == 0:
                mark += 1
                c.send_message(5, DATA_AMF0, meta(mark), c.stream_id, m.timestamp)
            c.send_message(4 if m.type == AUDIO else 6, m.type, m.payload, c.stream_id, m.timestamp)
            sent += m.type == VIDEO
        for who, p in (('early', early), ('late', late)):
            msgs = p.read_for(2.0)
            v = [m for m in msgs if m.type == VIDEO]
            self.assertGreaterEqual(len(v), 10 if who == 'late' else sent // 2,
                                    '%s player: video stalled after metadata repeats: %s'
                                    % (who, p.summary()))
            starts = [m for m in p.received if m.name == 'onStatus'
                      and m.amf[3].get('code') == 'NetStream.Play.Start']
            self.assertLessEqual(len(starts), 1, '%s player: repeated Play.Start' % who)
        # libavformat's FLV demuxer takes an onMetaData with a non-zero timestamp for a
        # subtitle packet and adds a bogus 'text' stream (nginx-rtmp sends metadata at 0)
        for who, p in (('early', early), ('late', late)):
            bad = [m for m in p.received if is_metadata(m) and m.timestamp != 0]
            self.assertFalse(bad, '%s player: onMetaData with non-zero timestamp: %r'
                             % (who, bad[:3]))
        late_meta = [metadata_obj(m).get('videodatarate') for m in late.received if is_metadata(m)]
        print('late player metadata marks: %s' % late_meta)

    def test_window_ack_size_twice_publisher(self):
        """rtmp2src style WinAckSize 5000000 then 2500000: acks follow the latest."""
        c = self.raw(timeout=10)
        c.connect()
        c.send_raw(c.win_ack_size_bytes(5000000))
        c.send_raw(c.win_ack_size_bytes(2500000) + c.buffer_length_bytes(0, 300))
        c.create_stream()
        c.publish('ack')
        media = [m for m in rtmpclient.capture_media(OBS_CAPTURE) if m.type != DATA_AMF0]
        total = 0
        loop = 0
        span = media[-1].timestamp - media[0].timestamp + 40
        while total < 3300000:
            total += c.send_media_messages(media, ts_offset=loop * span)
            loop += 1
            c.poll()
        got = c.read_for(2.0)
        acks = [struct.unpack('!I', m.payload[:4])[0] for m in c.received if m.type == ACK]
        print('sent %d bytes after connect, server acks: %s' % (total, acks))
        self.assertTrue(acks, 'no Acknowledgement after > 2.5 MB with window 2500000')
        self.assertLess(min(acks), 5000000)
        self.assert_alive()
        del got

    # ---------- player quirks (against an ffmpeg publisher)
    def test_player_quirks(self):
        self.publish('q')
        with self.subTest('FCSubscribe before play'):
            c = self.raw(timeout=10)
            c.connect()
            c.create_stream()
            c.send_raw(c.command_bytes('FCSubscribe', None, 'q'))
            c.play('q', start=-1000)
            self.assert_plays_live(c)
            c.close()
        with self.subTest('getStreamLength + play + SetBufferLength in one write'):
            c = self.raw(timeout=10)
            c.connect()
            c.create_stream()
            c.play('q', prefix=c.command_bytes('getStreamLength', None, 'q', stream_id=c.stream_id),
                   suffix=c.buffer_length_bytes(c.stream_id, 3000))
            self.assert_plays_live(c)
            c.close()
        with self.subTest('connect without flashVer'):
            c = self.raw(timeout=10)
            c.connect(omit_flashver=True)
            self.assertEqual(c.received[-1].amf[3].get('code'), 'NetConnection.Connect.Success')
            c.create_stream()
            c.play('q')
            self.assert_plays_live(c)
            c.close()
        with self.subTest('minimal librtmp publisher-style connect object (app, type, tcUrl)'):
            c = self.raw(timeout=10)
            c.handshake()
            obj = {'app': 'live', 'type': 'nonprivate',
                   'tcUrl': 'rtmp://127.0.0.1:%d/live' % self.server.port}
            c.send_raw(c.command_bytes('connect', obj, tx=1))
            r = c.wait_result(1)
            self.assertEqual(r.amf[3].get('code'), 'NetConnection.Connect.Success', r)
            c.close()
        with self.subTest('WindowAckSize twice + SetBufferLength + createStream in one write'):
            c = self.raw(timeout=10)
            c.connect()
            c.send_raw(c.win_ack_size_bytes(5000000))
            c.create_stream(prefix=c.win_ack_size_bytes(2500000) + c.buffer_length_bytes(0, 300))
            c.play('q', start=-2)
            c.send_raw(c.buffer_length_bytes(c.stream_id, 30000))
            self.assert_plays_live(c)
            c.close()
        with self.subTest('SetBufferLength 300 ms then 36000000 ms (rtmpdump --live)'):
            c = self.raw(timeout=10)
            c.connect()
            c.send_raw(c.win_ack_size_bytes(5000000) + c.buffer_length_bytes(0, 300))
            c.create_stream()
            c.send_raw(c.command_bytes('FCSubscribe', None, 'q'))
            c.play('q', start=-1000, suffix=c.buffer_length_bytes(c.stream_id, 36000000))
            self.assert_plays_live(c)
            c.send_raw(c.buffer_length_bytes(c.stream_id, 36000000))
            self.assert_media_flows(c)
            c.close()
        self.assert_alive()

    # ---------- capture replays
    def _replay_publish(self, capture, name):
        c = self.raw(timeout=10, send_acks=False)
        started = threading.Event()
        out = {}

        def seen(m):
            if m.name == 'onStatus' and m.amf[3].get('code') == 'NetStream.Publish.Start':
                started.set()

        def go():
            try:
                out['got'] = rtmpclient.replay_capture(
                    c, os.path.join(harness.DATA_DIR, capture), pace=True, on_message=seen)
            except Exception as e:      # reported by the main thread
                out['error'] = e
            started.set()
        t = threading.Thread(target=go, daemon=True)
        t.start()
        self.assertTrue(started.wait(10), 'no NetStream.Publish.Start for %s' % capture)
        time.sleep(0.3)
        dec = harness.DecodeProc(self.server.url(name), 20, 12)
        res = dec.result()
        t.join(20)
        self.assertFalse(t.is_alive(), 'replay thread hung')
        if 'error' in out:
            raise out['error']
        got = out['got']
        cmds = [(m.name, m.amf) for m in got if m.type == COMMAND_AMF0]
        results = [a for n, a in cmds if n == '_result']
        self.assertTrue(results and results[0][1] == 1 and
                        results[0][3].get('code') == 'NetConnection.Connect.Success',
                        'connect _result missing/wrong: %r' % cmds)
        self.assertTrue(any(isinstance(a[3], (int, float)) for a in results[1:]
                            if len(a) > 3), 'createStream _result (stream id) missing: %r' % cmds)
        codes = [a[3].get('code') for n, a in cmds if n == 'onStatus']
        self.assertIn('NetStream.Publish.Start', codes)
        print('%s: onStatus codes %s; player %r' % (capture, codes, res))
        self.assertEqual(res.rc, 0, '%s: player failed: %r' % (capture, res))
        self.assertGreaterEqual(res.frames, 20, '%s: player: %r' % (capture, res))
        self.assert_alive()

    def test_replay_publish_obs(self):
        self._replay_publish('publish-obs.c2s.bin', 'pubobs')

    def test_replay_publish_ffmpeg(self):
        self._replay_publish('publish-ffmpeg.c2s.bin', 'pubffmpeg')

    def test_replay_publish_gst_rtmp2sink(self):
        self._replay_publish('publish-gst-rtmp2sink.c2s.bin', 'pubgst2')

    def test_replay_publish_gst_rtmpsink(self):
        self._replay_publish('publish-gst-rtmpsink.c2s.bin', 'pubgstl')

    def test_replay_play_captures(self):
        self.publish('bars')
        for cap in ('play-ffmpeg.c2s.bin', 'play-rtmpdump.c2s.bin', 'play-gst-rtmp2src.c2s.bin'):
            with self.subTest(cap):
                c = self.raw(timeout=10, send_acks=False)
                got = rtmpclient.replay_capture(c, os.path.join(harness.DATA_DIR, cap), pace=False,
                                                hold_before=('deleteStream',), hold_seconds=2.0,
                                                tail_seconds=2.0)
                codes = [m.amf[3].get('code') for m in got if m.name == 'onStatus']
                self.assertIn('NetStream.Play.Start', codes, [m for m in got if m.type != AUDIO
                                                              and m.type != VIDEO])
                v = [m for m in got if m.type == VIDEO]
                a = [m for m in got if m.type == AUDIO]
                print('%s: %d video, %d audio messages, statuses %s' % (cap, len(v), len(a), codes))
                self.assertGreaterEqual(len(v), 20, cap)
                self.assertGreaterEqual(len(a), 20, cap)
                self.assertTrue(any(m.is_video_keyframe() for m in v), cap)
                self.assertTrue(any(m.type == USER_CONTROL and m.payload[:2] == b'\x00\x00'
                                    for m in got), 'no StreamBegin: %s' % cap)
                c.close()
        self.assert_alive()


if __name__ == '__main__':
    harness.main()
