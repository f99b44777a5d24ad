"""Minimal raw RTMP client for integration tests (standard library only).

Simple handshake, chunk writer (fmt 0 + fmt 3, configurable chunk size),
chunk reader (fmt 0-3, 1/2/3-byte csids, extended timestamps, follows the
peer's Set Chunk Size), AMF0 basics, connect/createStream/play/publish helpers
and replay of the captured client byte streams in tests/data.

It deliberately does not hide protocol errors: everything the server sends is
returned as Message objects so tests can check order and content.
"""
import os
import socket
import struct
import time
from collections import OrderedDict

# Message types
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WIN_ACK_SIZE, SET_PEER_BW = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF0, COMMAND_AMF0 = 8, 9, 18, 20

HANDSHAKE_SIZE = 1536
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection."""


class ProtocolError(Exception):
    """The server sent something the client cannot parse."""


# ---------------------------------------------------------------- AMF0

class EcmaArray(OrderedDict):
    """Marker type so an OrderedDict is encoded as an AMF0 ECMA array."""


def amf0_encode(v):
    if v is None:
        return b'\x05'
    if isinstance(v, bool):
        return b'\x01' + (b'\x01' if v else b'\x00')
    if isinstance(v, (int, float)):
        return b'\x00' + struct.pack('!d', float(v))
    if isinstance(v, str):
        b = v.encode('utf-8')
        if len(b) > 0xffff:
            return b'\x0c' + struct.pack('!I', len(b)) + b
        return b'\x02' + struct.pack('!H', len(b)) + b
    if isinstance(v, dict):
        out = bytearray()
        if isinstance(v, EcmaArray):
            out += b'\x08' + struct.pack('!I', len(v))
        else:
            out += b'\x03'
        for k, x in v.items():
            kb = k.encode('utf-8')
            out += struct.pack('!H', len(kb)) + kb + amf0_encode(x)
        out += b'\x00\x00\x09'
        return bytes(out)
    if isinstance(v, (list, tuple)):
        out = bytearray(b'\x0a' + struct.pack('!I', len(v)))
        for x in v:
            out += amf0_encode(x)
        return bytes(out)
    raise TypeError('cannot AMF0-encode %r' % type(v))


def amf0_encode_all(*vals):
    return b''.join(amf0_encode(v) for v in vals)


def amf0_decode(b, i=0):
    """Decode one AMF0 value at b[i:]; return (value, next index)."""
    if i >= len(b):
        raise ProtocolError('AMF0: truncated')
    m = b[i]
    i += 1
    if m == 0:
        return struct.unpack('!d', b[i:i + 8])[0], i + 8
    if m == 1:
        return bool(b[i]), i + 1
    if m == 2:
        n = struct.unpack('!H', b[i:i + 2])[0]
        return b[i + 2:i + 2 + n].decode('utf-8', 'replace'), i + 2 + n
    if m in (3, 8):
        o = EcmaArray() if m == 8 else OrderedDict()
        if m == 8:
            i += 4
        while True:
            if i + 3 > len(b):
                raise ProtocolError('AMF0: truncated object')
            n = struct.unpack('!H', b[i:i + 2])[0]
            k = b[i + 2:i + 2 + n].decode('utf-8', 'replace')
            i += 2 + n
            if n == 0 and b[i] == 9:
                return o, i + 1
            o[k], i = amf0_decode(b, i)
    if m in (5, 6):
        return None, i
    if m == 10:
        cnt = struct.unpack('!I', b[i:i + 4])[0]
        i += 4
        a = []
        for _ in range(cnt):
            x, i = amf0_decode(b, i)
            a.append(x)
        return a, i
    if m == 11:
        return struct.unpack('!d', b[i:i + 8])[0], i + 10
    if m == 12:
        n = struct.unpack('!I', b[i:i + 4])[0]
        return b[i + 4:i + 4 + n].decode('utf-8', 'replace'), i + 4 + n
    raise ProtocolError('AMF0 marker %d not handled' % m)


def amf0_decode_all(b):
    out, i = [], 0
    while i < len(b):
        v, i = amf0_decode(b, i)
        out.append(v)
    return out


# ---------------------------------------------------------------- messages

class Message:
    __slots__ = ('csid', 'type', 'stream_id', 'timestamp', 'payload', 'end_offset', '_amf')

    def __init__(self, csid, mtype, stream_id, timestamp, payload, end_offset=0):
        self.csid, self.type, self.stream_id = csid, mtype, stream_id
        self.timestamp, self.payload, self.end_offset = timestamp, bytes(payload), end_offset
        self._amf = None

    @property
    def amf(self):
        """Decoded AMF0 values for command/data messages (None otherwise)."""
        if self.type not in (COMMAND_AMF0, DATA_AMF0):
            return None
        if self._amf is None:
            self._amf = amf0_decode_all(self.payload)
        return self._amf

    @property
    def name(self):
        a = self.amf
        return a[0] if a and isinstance(a[0], str) else None

    def is_video_keyframe(self):
        """Coded (non sequence header) AVC keyframe."""
        return (self.type == VIDEO and len(self.payload) >= 2 and self.payload[0] >> 4 == 1
                and not (self.payload[0] & 0x0f == 7 and self.payload[1] == 0))

    def is_video_seq_header(self):
        return self.type == VIDEO and len(self.payload) >= 2 and self.payload[0] & 0x0f == 7 \
            and self.payload[1] == 0

    def is_audio_seq_header(self):
        return self.type == AUDIO and len(self.payload) >= 2 and self.payload[0] >> 4 == 10 \
            and self.payload[1] == 0

    def is_coded_media(self):
        return (self.type in (AUDIO, VIDEO) and not self.is_video_seq_header()
                and not self.is_audio_seq_header())

    def __repr__(self):
        extra = ''
        if self.type in (COMMAND_AMF0, DATA_AMF0):
            try:
                extra = ' %r' % (self.amf,)
            except ProtocolError:
                extra = ' <bad amf>'
        elif self.type in (AUDIO, VIDEO):
            extra = ' first=%s' % self.payload[:2].hex()
        else:
            extra = ' %s' % self.payload[:16].hex()
        return '<Msg type=%d csid=%d sid=%d ts=%d len=%d%s>' % (
            self.type, self.csid, self.stream_id, self.timestamp, len(self.payload), extra[:300])


class ChunkReader:
    """Incremental chunk stream decoder. feed() bytes, then pop messages.

    Follows Set Chunk Size messages found in the stream it decodes (the peer's
    direction). end_offset of each message is the stream offset just after its
    last byte, counted from the first byte fed."""

    def __init__(self, chunk_size=128, max_message=64 << 20):
        self.chunk_size = chunk_size
        self.max_message = max_message
        self.buf = bytearray()
        self.consumed = 0
        self.st = {}

    def feed(self, data):
        self.buf += data

    def messages(self):
        out = []
        while True:
            m = self._one()
            if m is None:
                return out
            out.append(m)

    def _one(self):
        while True:
            r = self._chunk()
            if r is None:
                return None
            if r is not True:
                return r

    def _chunk(self):
        b = self.buf
        n = len(b)
        if n < 1:
            return None
        pos = 1
        fmt, csid = b[0] >> 6, b[0] & 0x3f
        if csid == 0:
            if n < 2:
                return None
            csid = 64 + b[1]
            pos = 2
        elif csid == 1:
            if n < 3:
                return None
            csid = 64 + b[1] + 256 * b[2]
            pos = 3
        hl = (11, 7, 3, 0)[fmt]
        if n < pos + hl:
            return None
        s = self.st.get(csid)
        if fmt != 0 and s is None:
            raise ProtocolError('fmt %d chunk on new csid %d' % (fmt, csid))
        new = dict(s) if s else {'partial': None, 'delta': 0, 'ts': 0}
        if fmt == 0:
            t = int.from_bytes(b[pos:pos + 3], 'big')
            new['len'] = int.from_bytes(b[pos + 3:pos + 6], 'big')
            new['type'] = b[pos + 6]
            new['sid'] = struct.unpack('<I', b[pos + 7:pos + 11])[0]
            new['ext'] = t == 0xffffff
            new['hts'], new['abs'] = t, True
        elif fmt in (1, 2):
            t = int.from_bytes(b[pos:pos + 3], 'big')
            if fmt == 1:
                new['len'] = int.from_bytes(b[pos + 3:pos + 6], 'big')
                new['type'] = b[pos + 6]
            new['ext'] = t == 0xffffff
            new['hts'], new['abs'] = t, False
        pos += hl
        if new['ext']:
            if n < pos + 4:
                return None
            ext = struct.unpack('!I', b[pos:pos + 4])[0]
            pos += 4
            if fmt != 3:
                new['hts'] = ext
        starting = new['partial'] is None
        if starting:
            if fmt == 0:
                new['ts'] = new['hts']
                new['delta'] = 0
            elif fmt in (1, 2):
                new['delta'] = new['hts']
                new['ts'] = new['ts'] + new['delta']
            else:
                new['ts'] = new['ts'] + new['delta']
            if new['len'] > self.max_message:
                raise ProtocolError('message length %d too large' % new['len'])
            partial = bytearray()
        else:
            partial = new['partial']
        take = min(self.chunk_size, new['len'] - len(partial))
        if n < pos + take:
            return None
        partial += b[pos:pos + take]
        pos += take
        del b[:pos]
        self.consumed += pos
        if len(partial) < new['len']:
            new['partial'] = partial
            self.st[csid] = new
            return True
        new['partial'] = None
        self.st[csid] = new
        m = Message(csid, new['type'], new['sid'], new['ts'] & 0xffffffff, partial, self.consumed)
        if m.type == SET_CHUNK_SIZE and len(m.payload) >= 4:
            self.chunk_size = struct.unpack('!I', m.payload[:4])[0] & 0x7fffffff
            if self.chunk_size < 1:
                raise ProtocolError('peer chunk size 0')
        elif m.type == ABORT and len(m.payload) >= 4:
            c = struct.unpack('!I', m.payload[:4])[0]
            if c in self.st:
                self.st[c]['partial'] = None
        return m


def encode_message(csid, mtype, stream_id, payload, timestamp=0, chunk_size=128):
    """Chunk one message: a fmt 0 chunk then fmt 3 continuation chunks."""
    def basic(fmt):
        if csid < 64:
            return bytes([(fmt << 6) | csid])
        if csid < 320:
            return bytes([fmt << 6, csid - 64])
        return bytes([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8])
    ext = timestamp >= 0xffffff
    out = bytearray(basic(0))
    out += (0xffffff if ext else timestamp).to_bytes(3, 'big')
    out += len(payload).to_bytes(3, 'big') + bytes([mtype]) + struct.pack('<I', stream_id)
    extb = struct.pack('!I', timestamp & 0xffffffff) if ext else b''
    out += extb
    first = True
    for off in range(0, max(len(payload), 1), chunk_size):
        if not first:
            out += basic(3) + extb
        out += payload[off:off + chunk_size]
        first = False
    return bytes(out)


# ---------------------------------------------------------------- client

class RtmpClient:
    """One RTMP connection. All waits are bounded by explicit timeouts."""

    def __init__(self, host='127.0.0.1', port=1935, timeout=10.0, rcvbuf=None, send_acks=True):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.local_port = self.sock.getsockname()[1]
        self.out_chunk_size = 128
        self.reader = ChunkReader()
        self.pending = []           # decoded, not yet returned messages
        self.received = []          # every message returned so far (history)
        self.closed = False
        self.tx = 1
        self.stream_id = 0
        self.window = 0
        self.bytes_in = 0
        self.last_ack = 0
        self.send_acks = send_acks

    # ----- raw I/O
    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        out = bytearray()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('recv_exact: got %d of %d bytes' % (len(out), n))
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(n - len(out))
            except ConnectionResetError as e:
                raise ConnectionClosed('reset after %d of %d bytes' % (len(out), n)) from e
            if not d:
                raise ConnectionClosed('EOF after %d of %d bytes' % (len(out), n))
            out += d
        return bytes(out)

    def wait_closed(self, timeout=5.0):
        """Drain until the server closes the connection. True if closed in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not d:
                return True
        return False

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # ----- handshake
    @staticmethod
    def c0c1(version=3):
        return bytes([version]) + struct.pack('!II', 0, 0) + os.urandom(HANDSHAKE_SIZE - 8)

    def handshake(self):
        c1 = self.c0c1()
        self.send_raw(c1)
        s = self.recv_exact(1 + 2 * HANDSHAKE_SIZE)
        if s[0] != 3:
            raise ProtocolError('S0 version %d' % s[0])
        self.s1 = s[1:1 + HANDSHAKE_SIZE]
        self.s2 = s[1 + HANDSHAKE_SIZE:]
        self.send_raw(self.s1)           # C2 = echo of S1
        return s

    # ----- writing
    def message_bytes(self, csid, mtype, payload, stream_id=0, timestamp=0):
        b = encode_message(csid, mtype, stream_id, payload, timestamp, self.out_chunk_size)
        if mtype == SET_CHUNK_SIZE:
            self.out_chunk_size = struct.unpack('!I', payload[:4])[0] & 0x7fffffff or 1
        return b

    def send_message(self, csid, mtype, payload, stream_id=0, timestamp=0):
        self.send_raw(self.message_bytes(csid, mtype, payload, stream_id, timestamp))

    def set_chunk_size_bytes(self, n):
        """Bytes of a Set Chunk Size; our writer switches to n from here on."""
        b = encode_message(2, SET_CHUNK_SIZE, 0, struct.pack('!I', n & 0xffffffff), 0,
                           self.out_chunk_size)
        self.out_chunk_size = n
        return b

    def set_chunk_size(self, n):
        self.send_raw(self.set_chunk_size_bytes(n))

    def win_ack_size_bytes(self, n):
        return self.message_bytes(2, WIN_ACK_SIZE, struct.pack('!I', n))

    def buffer_length_bytes(self, stream_id, ms):
        return self.message_bytes(2, USER_CONTROL, struct.pack('!HII', 3, stream_id, ms))

    def command_bytes(self, name, *args, tx=None, stream_id=0, csid=3):
        if tx is None:
            tx = self.tx
            self.tx += 1
        return self.message_bytes(csid, COMMAND_AMF0, amf0_encode_all(name, tx, *args),
                                  stream_id=stream_id)

    def command(self, name, *args, tx=None, stream_id=0, csid=3):
        self.send_raw(self.command_bytes(name, *args, tx=tx, stream_id=stream_id, csid=csid))

    def connect_bytes(self, app='live', extra=None, omit_flashver=False, flashver='LNX 9,0,124,2'):
        obj = OrderedDict(app=app)
        if not omit_flashver:
            obj['flashVer'] = flashver
        obj['tcUrl'] = 'rtmp://%s:%d/%s' % (self.host, self.port, app)
        obj['fpad'] = False
        obj['capabilities'] = 15.0
        obj['audioCodecs'] = 4071.0
        obj['videoCodecs'] = 252.0
        obj['videoFunction'] = 1.0
        if extra:
            obj.update(extra)
        return self.command_bytes('connect', obj, tx=1)

    # ----- reading
    def read_message(self, timeout=None):
        """Next message or None on timeout; raises ConnectionClosed on EOF/reset."""
        if self.pending:
            m = self.pending.pop(0)
            self.received.append(m)
            return m
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msgs = self.reader.messages()
            if msgs:
                for m in msgs:
                    self._auto(m)
                self.pending.extend(msgs)
                m = self.pending.pop(0)
                self.received.append(m)
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(262144)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ConnectionClosed('connection reset') from e
            if not d:
                raise ConnectionClosed('EOF')
            self.bytes_in += len(d)
            self.reader.feed(d)
            if self.send_acks and self.window and self.bytes_in - self.last_ack >= self.window // 2:
                self.last_ack = self.bytes_in
                self.send_message(2, ACK, struct.pack('!I', self.bytes_in & 0xffffffff))

    def _auto(self, m):
        if m.type == WIN_ACK_SIZE and len(m.payload) >= 4:
            self.window = struct.unpack('!I', m.payload[:4])[0]
        elif m.type == USER_CONTROL and len(m.payload) >= 6 and self.send_acks:
            ev = struct.unpack('!H', m.payload[:2])[0]
            if ev == 6:   # ping request -> ping response
                self.send_message(2, USER_CONTROL, struct.pack('!H', 7) + m.payload[2:6])

    def read_until(self, pred, timeout=None, what='message'):
        """Read until pred(msg) is true; return that message. Raise TimeoutError otherwise."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('timeout waiting for %s; got: %s' % (what, self.summary()))
            m = self.read_message(left)
            if m is not None and pred(m):
                return m

    def read_for(self, seconds):
        """Collect messages for a while; stops early on close (no exception)."""
        out = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                m = self.read_message(max(0.01, deadline - time.monotonic()))
                if m is not None:
                    out.append(m)
        except ConnectionClosed:
            pass
        return out

    def summary(self, last=12):
        return '[%d messages] ' % len(self.received) + ', '.join(repr(m) for m in self.received[-last:])

    def wait_result(self, tx, timeout=None):
        m = self.read_until(lambda m: m.type == COMMAND_AMF0 and m.name in ('_result', '_error')
                            and len(m.amf) > 1 and m.amf[1] == tx, timeout,
                            what='_result for transaction %d' % tx)
        return m

    def wait_status(self, code=None, timeout=None):
        """Wait for onStatus (optionally with info.code == code); return its info object.
        A different onStatus code with level 'error' raises ProtocolError."""
        def pred(m):
            return m.type == COMMAND_AMF0 and m.name == 'onStatus'
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            m = self.read_until(pred, max(0.01, deadline - time.monotonic()),
                                what='onStatus %s' % code)
            info = m.amf[3] if len(m.amf) > 3 and isinstance(m.amf[3], dict) else {}
            if code is None or info.get('code') == code:
                return info
            if info.get('level') == 'error':
                raise ProtocolError('onStatus %r while waiting for %s' % (dict(info), code))

    # ----- high level
    def connect(self, app='live', extra=None, omit_flashver=False, prefix=b'', wait=True):
        """Handshake (if not done) + connect. prefix: bytes sent in the same write before
        connect (e.g. a Set Chunk Size). Returns the _result message."""
        if not hasattr(self, 's1'):
            self.handshake()
        self.send_raw(prefix + self.connect_bytes(app, extra, omit_flashver))
        if not wait:
            return None
        m = self.wait_result(1)
        if m.name != '_result':
            raise ProtocolError('connect failed: %r' % (m.amf,))
        return m

    def create_stream(self, prefix=b''):
        tx = self.tx
        self.send_raw(prefix + self.command_bytes('createStream', None))
        m = self.wait_result(tx)
        if m.name != '_result':
            raise ProtocolError('createStream failed: %r' % (m.amf,))
        self.stream_id = int(m.amf[3])
        return self.stream_id

    def play(self, name, start=-2000, prefix=b'', suffix=b'', wait=True):
        """play(name); returns onStatus NetStream.Play.Start info if wait."""
        self.send_raw(prefix + self.command_bytes('play', None, name, start, tx=0,
                                                  stream_id=self.stream_id, csid=8) + suffix)
        if wait:
            return self.wait_status('NetStream.Play.Start')
        return None

    def publish(self, name, wait=True):
        self.send_raw(self.command_bytes('releaseStream', None, name)
                      + self.command_bytes('FCPublish', None, name))
        if not self.stream_id:
            self.create_stream()
        self.send_raw(self.command_bytes('publish', None, name, 'live', tx=0,
                                         stream_id=self.stream_id, csid=8))
        if wait:
            return self.wait_status('NetStream.Publish.Start')
        return None

    def send_media(self, mtype, payload, timestamp, csid=None):
        if csid is None:
            csid = 4 if mtype == AUDIO else 6 if mtype == VIDEO else 5
        self.send_message(csid, mtype, payload, stream_id=self.stream_id, timestamp=timestamp)

    def send_media_messages(self, msgs, ts_offset=0, pace=False):
        """Re-send recorded media/data messages on our stream with our chunk size.
        pace: follow their timestamps in wall time. Returns bytes sent."""
        n = 0
        t0 = time.monotonic()
        ts0 = msgs[0].timestamp if msgs else 0
        for m in msgs:
            if pace:
                delay = t0 + (m.timestamp - ts0) / 1000.0 - time.monotonic()
                if delay > 0:
                    self.read_for(delay)
            b = self.message_bytes(5 if m.type == DATA_AMF0 else 4 if m.type == AUDIO else 6,
                                   m.type, m.payload, self.stream_id, m.timestamp + ts_offset)
            self.send_raw(b)
            n += len(b)
        return n

    def poll(self):
        """Read whatever is available right now without blocking (for replay)."""
        out = []
        try:
            while True:
                m = self.read_message(0.0001)
                if m is None:
                    return out
                out.append(m)
        except ConnectionClosed:
            self.closed = True
            return out


def parse_capture(path):
    """(c2s bytes, list of Message with end_offset relative to the chunk stream start)."""
    with open(path, 'rb') as f:
        data = f.read()
    r = ChunkReader()
    r.feed(data[1 + 2 * HANDSHAKE_SIZE:])
    return data, r.messages()


def capture_media(path):
    """Media and data messages (types 8, 9, 18) of a recorded c2s capture, in order."""
    return [m for m in parse_capture(path)[1] if m.type in (AUDIO, VIDEO, DATA_AMF0)]


def replay_capture(client, path, pace=True, hold_before=(), hold_seconds=0.0, max_wait=15.0,
                   tail_seconds=0.5, on_message=None):
    """Replay a recorded client byte stream against the server.

    Sends C0C1 (1537 bytes), reads S0S1S2 (3073 bytes), then sends the rest.
    pace: send message by message, sleeping so media timestamps follow wall time.
    hold_before: command names (e.g. 'deleteStream') before which sending pauses for
    hold_seconds while server output is collected; tail_seconds: collect output after
    the last byte. on_message(msg) is called for each message as it arrives.
    Returns every message received."""
    data, msgs = parse_capture(path)
    client.send_raw(data[:1 + HANDSHAKE_SIZE])
    client.recv_exact(1 + 2 * HANDSHAKE_SIZE)
    base = 1 + 2 * HANDSHAKE_SIZE
    client.send_raw(data[1 + HANDSHAKE_SIZE:base])
    got = []

    class Got(list):
        def __iadd__(self, more):
            for x in more:
                if on_message:
                    on_message(x)
                self.append(x)
            return self
    got = Got()
    pos = 0
    t0 = None
    ts0 = None
    start = time.monotonic()
    for m in msgs:
        if m.type == COMMAND_AMF0 and m.name in hold_before:
            # everything before this message is sent: collect output, then go on
            got += client.read_for(hold_seconds)
        if pace and m.type in (AUDIO, VIDEO):
            if t0 is None:
                t0, ts0 = time.monotonic(), m.timestamp
            delay = t0 + (m.timestamp - ts0) / 1000.0 - time.monotonic()
            if delay > 0:
                got += client.read_for(delay) if not client.closed else []
        if time.monotonic() - start > max_wait + 10:
            raise TimeoutError('replay took too long')
        try:
            client.send_raw(data[base + pos:base + m.end_offset])
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ConnectionClosed('server closed during replay after %d messages: %s'
                                   % (len(got), client.summary())) from e
        pos = m.end_offset
        if pace or (m.type == COMMAND_AMF0):
            got += client.poll()
    got += client.read_for(tail_seconds)
    return list(got)
