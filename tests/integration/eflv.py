"""Enhanced-RTMP tag bodies from a short MP4 (HEVC or AV1 video, AAC audio).

Debian's ffmpeg cannot publish HEVC/AV1 over RTMP, so tests encode an MP4
and publish its samples themselves. Enhanced RTMP video tag body: first byte
0x80 | frame_type << 4 | packet_type, FourCC ('hvc1', 'av01') in bytes 1..4,
then per packet type: 0 SequenceStart (hvcC / av1C record), 1 CodedFrames
(HEVC: signed 24-bit composition time, then length-prefixed NAL units; AV1:
OBUs), 2 SequenceEnd (empty), 3 CodedFramesX (HEVC without composition time,
used when it is zero). Audio stays legacy FLV AAC (0xaf, packet type, data).

The decoder configuration records come from the MP4's sample entries; the
samples (position, size, dts, pts, sync flag) from ffprobe. AV1 samples get
a temporal delimiter OBU in front, as live encoders send them over RTMP.
Standard library only (plus the ffprobe binary).
"""
import json
import struct
import subprocess

AUDIO, VIDEO = 8, 9
FRAME_KEY, FRAME_INTER = 1, 2
SEQUENCE_START, CODED_FRAMES, SEQUENCE_END, CODED_FRAMES_X = 0, 1, 2, 3
FOURCC = {'hvc1': b'hvc1', 'hev1': b'hvc1', 'av01': b'av01'}
AV1_TEMPORAL_DELIMITER = b'\x12\x00'


def _boxes(buf, off, end):
    """(type, payload start, box end) of the boxes in buf[off:end]."""
    while off + 8 <= end:
        size, typ = struct.unpack('>I4s', buf[off:off + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack('>Q', buf[off + 8:off + 16])[0], 16
        elif size == 0:
            size = end - off
        if size < hdr or off + size > end:
            raise ValueError('bad MP4 box %r at %d' % (typ, off))
        yield typ.decode('latin1'), off + hdr, off + size
        off += size


def _find(buf, off, end, path):
    for t, s, e in _boxes(buf, off, end):
        if t == path[0]:
            if len(path) == 1:
                yield s, e
            else:
                yield from _find(buf, s, e, path[1:])


def _descriptor(d, i):
    """(tag, payload start, payload end) of the MPEG-4 descriptor at d[i:]."""
    tag, i, n = d[i], i + 1, 0
    for _ in range(4):
        b = d[i]
        i += 1
        n = n << 7 | (b & 0x7f)
        if not b & 0x80:
            break
    return tag, i, i + n


def _aac_config(esds):
    """AudioSpecificConfig from an esds payload (after version/flags)."""
    tag, s, e = _descriptor(esds, 0)
    if tag != 3:
        raise ValueError('esds without ES_Descriptor')
    flags = esds[s + 2]
    s += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
    if flags & 0x40:
        s += 1 + esds[s]
    tag, s, e = _descriptor(esds, s)
    if tag != 4:
        raise ValueError('esds without DecoderConfigDescriptor')
    tag, s, e = _descriptor(esds, s + 13)
    if tag != 5:
        raise ValueError('esds without DecoderSpecificInfo')
    return esds[s:e]


def sample_entries(data):
    """{'video': (sample entry type, config record), 'audio': AudioSpecificConfig}."""
    out = {}
    for s, e in _find(data, 0, len(data), ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd']):
        for t, es, ee in _boxes(data, s + 8, e):
            if t in FOURCC:
                for ct, cs, ce in _boxes(data, es + 78, ee):    # after VisualSampleEntry fields
                    if ct in ('hvcC', 'av1C'):
                        out['video'] = (t, data[cs:ce])
            elif t == 'mp4a':
                for ct, cs, ce in _boxes(data, es + 28, ee):    # after AudioSampleEntry fields
                    if ct == 'esds':
                        out['audio'] = _aac_config(data[cs + 4:ce])
    return out


def video_body(fourcc, packet_type, key=False, payload=b'', cts=None):
    b = bytes([0x80 | (FRAME_KEY if key else FRAME_INTER) << 4 | packet_type]) + fourcc
    if cts is not None:
        b += struct.pack('>i', cts)[1:]
    return b + payload


class Clip:
    """One MP4 as enhanced-RTMP tags.

    headers: [(type, body)] sequence headers (video then audio).
    media: [(ts ms, type, body)] in send order; video starts at ts 0 with a
    keyframe, audio before 0 or at/after period is dropped.
    period: ms per loop (video frames x frame duration), so the clip can be
    repeated with ts + k * period.
    fourcc, width, height, frames, keyframes: what went in."""

    def __init__(self, path, timeout=30.0):
        with open(path, 'rb') as f:
            data = f.read()
        ent = sample_entries(data)
        if 'video' not in ent:
            raise ValueError('%s: no hvcC/av1C sample entry' % path)
        vtype, record = ent['video']
        self.fourcc = FOURCC[vtype]
        self.headers = [(VIDEO, video_body(self.fourcc, SEQUENCE_START, key=True, payload=record))]
        if 'audio' in ent:
            self.headers.append((AUDIO, b'\xaf\x00' + ent['audio']))
        pk = json.loads(subprocess.run(
            ['ffprobe', '-v', 'error', '-show_entries',
             'packet=stream_index,pts,dts,duration,flags,pos,size:'
             'stream=index,codec_type,time_base,width,height', '-of', 'json', path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=True).stdout)
        kinds = {}
        for st in pk['streams']:
            num, den = map(int, st['time_base'].split('/'))
            kinds[st['index']] = (st['codec_type'], num, den)
            if st['codec_type'] == 'video':
                self.width, self.height = st['width'], st['height']

        def ms(v, num, den):
            return round(int(v) * num * 1000 / den)

        video, audio = [], []
        for p in pk['packets']:
            kind, num, den = kinds[p['stream_index']]
            payload = data[int(p['pos']):int(p['pos']) + int(p['size'])]
            dts, pts = ms(p['dts'], num, den), ms(p['pts'], num, den)
            if kind == 'video':
                video.append((dts, pts, 'K' in p['flags'], payload, ms(p['duration'], num, den)))
            elif kind == 'audio':
                audio.append((dts, payload))
        if not video or not video[0][2]:
            raise ValueError('%s: video does not start with a keyframe' % path)
        base = video[0][0]
        self.period = video[-1][0] - base + video[-1][4]
        self.frames = len(video)
        self.keyframes = sum(1 for v in video if v[2])
        self.cts_max = 0
        tags = []
        for dts, pts, key, payload, _ in video:
            if self.fourcc == b'av01':
                body = video_body(self.fourcc, CODED_FRAMES, key, AV1_TEMPORAL_DELIMITER + payload)
            elif pts == dts:
                body = video_body(self.fourcc, CODED_FRAMES_X, key, payload)
            else:
                body = video_body(self.fourcc, CODED_FRAMES, key, payload, cts=pts - dts)
                self.cts_max = max(self.cts_max, pts - dts)
            tags.append((dts - base, 1, VIDEO, body))
        for dts, payload in audio:
            if 0 <= dts - base < self.period:
                tags.append((dts - base, 0, AUDIO, b'\xaf\x01' + payload))
        tags.sort(key=lambda t: (t[0], t[1]))
        self.media = [(ts, typ, body) for ts, _, typ, body in tags]

    def sequence_end(self):
        return VIDEO, video_body(self.fourcc, SEQUENCE_END)

    def metadata(self):
        """onMetaData values an enhanced-RTMP encoder sends (videocodecid = FourCC)."""
        return {'width': float(self.width), 'height': float(self.height),
                'framerate': 1000.0 * self.frames / self.period,
                'videocodecid': float(int.from_bytes(self.fourcc, 'big')),
                'audiocodecid': 10.0}
